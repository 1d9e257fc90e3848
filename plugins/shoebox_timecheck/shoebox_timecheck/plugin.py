"""The shoebox plugin of shoebox-timecheck, found through its ``shoebox`` entry point."""

from __future__ import annotations

from shoebox_core.plugin import Strategy, hookimpl

from .checkers import AlignedRollChecker, IdleRollChecker, TimeRollChecker

__all__ = ["shoebox_roll_checkers"]


@hookimpl
def shoebox_roll_checkers() -> list[Strategy]:
    """Offer the ``time``, ``aligned`` and ``idle`` roll checkers."""
    return [
        Strategy("time", TimeRollChecker, "Roll roll_minutes after the archive started."),
        Strategy(
            "aligned",
            AlignedRollChecker,
            "Roll at UTC wall-clock boundaries: every_minutes (+ offset_minutes).",
        ),
        Strategy("idle", IdleRollChecker, "Roll after idle_minutes without a new record."),
    ]
