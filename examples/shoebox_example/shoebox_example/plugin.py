"""The shoebox plugin of shoebox-example, found through its ``shoebox`` entry point."""

from __future__ import annotations

from shoebox_core.plugin import Strategy, hookimpl

from .checkers import BatchRollChecker
from .uploader import OutboxUploader

__all__ = ["shoebox_callbacks", "shoebox_roll_checkers"]


@hookimpl
def shoebox_roll_checkers() -> list[Strategy]:
    """Offer the ``batch`` roll checker."""
    return [
        Strategy("batch", BatchRollChecker,
                 "Roll once an archive holds min_records records and is min_seconds old."),
    ]


@hookimpl
def shoebox_callbacks() -> list[Strategy]:
    """Offer the ``outbox`` uploader (an on-close callback)."""
    return [
        Strategy("outbox", OutboxUploader,
                 "Copy sealed archives to a directory or fsspec URL, verified by CRC-32C."),
    ]
