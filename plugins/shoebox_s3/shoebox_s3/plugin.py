"""The shoebox plugin of shoebox-s3, found through its ``shoebox`` entry point."""

from __future__ import annotations

from shoebox_core.plugin import Strategy, hookimpl

from .transfer import S3Transfer

__all__ = ["shoebox_transfers"]


@hookimpl
def shoebox_transfers() -> list[Strategy]:
    """Offer the ``s3`` transfer."""
    return [
        Strategy("s3", S3Transfer, "Upload sealed archives to S3, verified; multipart when large."),
    ]
