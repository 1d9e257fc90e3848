"""Clocks: the only place shoebox reads the time, so tests can steer it.

A clock has two readings: ``time()`` (wall clock, seconds since the Unix epoch, UTC) for names and
calendar-aligned rolls, and ``monotonic()`` (never goes backwards) for durations such as "roll every
15 minutes" or "roll after 5 idle minutes", so that a wall-clock jump cannot stretch or shrink them.
"""

from __future__ import annotations

import threading
import time as _time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock", "SYSTEM_CLOCK"]


@runtime_checkable
class Clock(Protocol):
    """What shoebox needs from a clock."""

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch (UTC)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences are meaningful."""


class SystemClock:
    """The real clocks of the machine."""

    def time(self) -> float:
        """Return ``time.time()``."""
        return _time.time()

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return _time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when told to; thread-safe.

    ``advance(seconds)`` moves both readings forward; ``jump(seconds)`` moves only the wall clock
    (forwards or backwards), as an NTP step or an operator would.
    """

    def __init__(self, start: float = 1_700_000_000.0):
        self._lock = threading.Lock()
        self._wall = float(start)
        self._mono = 1000.0

    def time(self) -> float:
        """Return the fake wall-clock time."""
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        """Return the fake monotonic time."""
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both readings forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("advance() moves forward only; use jump() to move the wall clock back")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def jump(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (either sign); the monotonic reading stays."""
        with self._lock:
            self._wall += seconds

    def __repr__(self) -> str:
        return f"FakeClock(time={self._wall!r})"
