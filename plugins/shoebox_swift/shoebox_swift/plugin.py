"""The shoebox plugin of shoebox-swift, found through its ``shoebox`` entry point."""

from __future__ import annotations

from shoebox_core.plugin import Strategy, hookimpl

from .transfer import SwiftTransfer

__all__ = ["shoebox_transfers"]


@hookimpl
def shoebox_transfers() -> list[Strategy]:
    """Offer the ``swift`` transfer."""
    return [
        Strategy(
            "swift",
            SwiftTransfer,
            "Upload sealed archives to OpenStack Swift, verified; segmented (SLO) when large.",
        ),
    ]
