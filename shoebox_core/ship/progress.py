"""What the shipping worker reports: its events, as they happen, and a snapshot of its counters.

:class:`~shoebox_core.ship.background.BackgroundCloser` hands a :class:`ShippingEvent` to its
``on_event`` listener for each thing it does, and :class:`CloserStats` from ``stats()``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CloserStats", "ShippingEvent"]


@dataclass(frozen=True)
class ShippingEvent:
    """Something the worker did: ``kind`` is ``"done"`` (``final`` is the name after the chain),
    ``"retry"`` (attempt ``attempt`` failed with ``error``; the next in ``delay`` seconds),
    ``"waiting"`` (the remote is down, ``error`` says why: the backlog waits ``delay`` seconds),
    ``"failed"`` (the last attempt failed; the file is kept) or ``"requeued"`` (a failed file is
    tried again)."""

    kind: str
    path: str
    attempt: int = 0
    error: str | None = None
    delay: float | None = None
    final: str | None = None


@dataclass(frozen=True)
class CloserStats:
    """A snapshot of what the background worker did and has left to do."""

    done: int
    failed: int
    backlog: int
    oldest_age: float  # seconds the oldest unfinished file has waited (0 when none)
    retries: int = 0  # attempts that followed a failure
    attempts: int = 0  # attempts in all
    parked: int = 0  # files that used up their attempts and wait to be tried again
    requeued: int = 0  # times a parked file was tried again
    next_try: float = 0.0  # seconds until the next probe of a remote that is down (0: it is up)
