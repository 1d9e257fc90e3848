"""Time-based roll checkers: after a duration, at wall-clock boundaries, and after idle time.

Their answers depend on the clock only, so each declares ``RollNeeds(timed=True)`` from ``needs``:
the writer's roll policy asks ``check`` on its timer ticks (waking after ``seconds_left``) rather
than after every write, and a roll fires even when no record arrives.
Every checker reads the time from its ``clock`` (default: the system clock), never directly.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from shoebox_core.clock import Clock
from shoebox_core.errors import ConfigError
from shoebox_core.options import number
from shoebox_core.write.checkers import Archive, RollChecker, RollNeeds

__all__ = ["AlignedRollChecker", "IdleRollChecker", "TimeRollChecker"]


_TIMED = RollNeeds(timed=True)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class TimeRollChecker(RollChecker):
    """Roll ``roll_minutes`` after the archive started (fractions allowed: ``0.1`` is 6 seconds).

    The duration is measured on ``clock.monotonic()``, so stepping the wall clock neither stretches
    nor shortens an archive. ``start_time`` and ``end_time`` (timezone-aware UTC datetimes from
    ``clock.time()``, None before the first ``start``) are kept for code written against
    stacktach-shoebox; ``end_time`` is only what the wall clock is expected to read at the roll.
    """

    def __init__(self, *, roll_minutes: float | int | str, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.roll_minutes = number(roll_minutes, "roll_minutes", owner=type(self).__name__)
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self._deadline: float | None = None

    def start(self, archive: Archive) -> None:
        """Start timing a new archive."""
        self._deadline = self.clock.monotonic() + self.roll_minutes * 60
        self.start_time = _utc(self.clock.time())
        self.end_time = self.start_time + timedelta(minutes=self.roll_minutes)

    def check(self, archive: Archive) -> bool:
        """True once ``roll_minutes`` have passed since ``start``."""
        return self._deadline is not None and self.clock.monotonic() >= self._deadline

    def needs(self, archive: Archive) -> RollNeeds:
        """Timed: ``check`` is asked on the writer's timer ticks, never per write."""
        return _TIMED

    def seconds_left(self, archive: Archive) -> float | None:
        """Seconds until the roll (0 when due), or None before ``start``."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self.clock.monotonic())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roll_minutes={self.roll_minutes!r})"


class AlignedRollChecker(RollChecker):
    """Roll at wall-clock boundaries aligned to the Unix epoch (UTC): with the defaults, every
    hour on the hour; ``every_minutes=1440`` rolls at midnight UTC; ``offset_minutes=5`` at five
    past.

    The boundary is the first one strictly after the wall-clock time of ``start``, computed once.
    If the wall clock jumps forward past it, the next ``check`` rolls at once. If it jumps
    backward, the boundary stays where it was: the archive stays open until the wall clock reaches
    it again, so one archive covers more than one period, but no boundary is skipped or repeated
    and no extra, short archive is made.
    """

    def __init__(
        self,
        *,
        every_minutes: float | int | str = 60,
        offset_minutes: float | int | str = 0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        owner = type(self).__name__
        self.every_minutes = number(every_minutes, "every_minutes", owner=owner)
        self.offset_minutes = number(offset_minutes, "offset_minutes", owner=owner, positive=False)
        if not 0 <= self.offset_minutes < self.every_minutes:
            raise ConfigError(
                f"{owner}: option 'offset_minutes' must be at least 0 and less than every_minutes "
                f"({self.every_minutes:g}), got {offset_minutes!r}"
            )
        self._boundary: float | None = None

    def next_boundary(self, now: float) -> float:
        """The first boundary strictly after ``now`` (seconds since the epoch)."""
        every = self.every_minutes * 60
        offset = self.offset_minutes * 60
        return (math.floor((now - offset) / every) + 1) * every + offset

    @property
    def end_time(self) -> datetime | None:
        """The boundary the current archive rolls at (UTC), or None before ``start``."""
        return None if self._boundary is None else _utc(self._boundary)

    def start(self, archive: Archive) -> None:
        """Fix the boundary the new archive rolls at."""
        self._boundary = self.next_boundary(self.clock.time())

    def check(self, archive: Archive) -> bool:
        """True once the wall clock has reached the boundary."""
        return self._boundary is not None and self.clock.time() >= self._boundary

    def needs(self, archive: Archive) -> RollNeeds:
        """Timed: ``check`` is asked on the writer's timer ticks, never per write."""
        return _TIMED

    def seconds_left(self, archive: Archive) -> float | None:
        """Wall-clock seconds until the boundary (0 when due), or None before ``start``."""
        if self._boundary is None:
            return None
        return max(0.0, self._boundary - self.clock.time())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(every_minutes={self.every_minutes!r}, "
            f"offset_minutes={self.offset_minutes!r})"
        )


class IdleRollChecker(RollChecker):
    """Roll once the archive has received no record for ``idle_minutes``.

    The writer polls this checker on its timer ticks, not after each write, so it notices activity
    by seeing ``archive.record_count`` change between two calls, and dates that activity at the
    call that saw it (the idle time is measured from there, on ``clock.monotonic()``: at most one
    tick late). An archive that holds no record never rolls: there is nothing to seal.
    """

    def __init__(self, *, idle_minutes: float | int | str, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.idle_minutes = number(idle_minutes, "idle_minutes", owner=type(self).__name__)
        self._seen_count: int | None = None
        self._last_activity = 0.0

    def start(self, archive: Archive) -> None:
        """Start watching a new archive."""
        self._seen_count = archive.record_count
        self._last_activity = self.clock.monotonic()

    def _idle_for(self, archive: Archive) -> float | None:
        """Seconds since the last activity seen, or None if the archive cannot roll."""
        if self._seen_count is None:
            return None
        now = self.clock.monotonic()
        count = archive.record_count
        if count != self._seen_count:
            self._seen_count = count
            self._last_activity = now
        if count == 0:
            return None
        return now - self._last_activity

    def check(self, archive: Archive) -> bool:
        """True once no record has arrived for ``idle_minutes`` (and the archive holds one)."""
        idle = self._idle_for(archive)
        return idle is not None and idle >= self.idle_minutes * 60

    def needs(self, archive: Archive) -> RollNeeds:
        """Timed: ``check`` is asked on the writer's timer ticks, never per write."""
        return _TIMED

    def seconds_left(self, archive: Archive) -> float | None:
        """Seconds until the archive counts as idle if nothing more arrives (0 when due), or None
        before ``start`` and while the archive is empty."""
        idle = self._idle_for(archive)
        return None if idle is None else max(0.0, self.idle_minutes * 60 - idle)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(idle_minutes={self.idle_minutes!r})"
