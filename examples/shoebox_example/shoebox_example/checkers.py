"""A roll checker that needs two conditions at once, which ``[[roll]]`` entries (any of them
rolls) cannot express: enough records *and* enough time."""

from __future__ import annotations

from shoebox_core.clock import Clock
from shoebox_core.options import number
from shoebox_core.write.checkers import Archive, RollChecker

__all__ = ["BatchRollChecker"]


class BatchRollChecker(RollChecker):
    """Roll once the archive holds at least ``min_records`` records and has been open for at
    least ``min_seconds`` seconds, so that no archive is tiny and none is sealed too often."""

    def __init__(
        self,
        *,
        min_records: int | str,
        min_seconds: float | int | str,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        owner = type(self).__name__
        self.min_records = int(number(min_records, "min_records", owner=owner, integer=True))
        self.min_seconds = number(min_seconds, "min_seconds", owner=owner)
        self._opened: float | None = None

    def start(self, archive: Archive) -> None:
        """Note when the archive opened."""
        self._opened = self.clock.monotonic()

    def check(self, archive: Archive) -> bool:
        """True once both conditions hold (called after each write and on timer ticks)."""
        return self._opened is not None and archive.record_count >= self.min_records and (
            self.clock.monotonic() - self._opened >= self.min_seconds
        )

    def seconds_left(self, archive: Archive) -> float | None:
        """Seconds until the roll once there are records enough; None while there are not (only
        a write can change that)."""
        if self._opened is None or archive.record_count < self.min_records:
            return None
        return max(0.0, self._opened + self.min_seconds - self.clock.monotonic())

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(min_records={self.min_records}, "
                f"min_seconds={self.min_seconds})")
