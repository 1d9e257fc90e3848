"""The roll policy: the one place that decides when the active archive rolls.

As Python's ``logging.handlers`` splits a rotation into *decide* (``shouldRollover``), *name* and
*move*, the writer splits a roll into this policy (decide), :mod:`.naming` (name) and
:meth:`.archive.ActiveArchive.seal` (move).

When an archive opens, the policy starts every checker and asks each, once, what it needs
(:meth:`~shoebox_core.write.checkers.RollChecker.needs`, a
:class:`~shoebox_core.write.checkers.RollNeeds`). The smallest byte and record limits are set on
the archive, whose :meth:`~.archive.ActiveArchive.take` stops at them without a Python call per
record; ``timed`` checkers are asked only on the writer's timer; ``per_write`` ones after every
record as well. A checker without ``needs`` (a duck type), or whose class overrides ``check``
below the class that declared ``needs``, is asked after every write: its declaration may no
longer describe its ``check``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .archive import _EMPTY_BLOCK, ActiveArchive
from .checkers import RollNeeds

__all__ = ["RollPolicy", "needs_of"]

_PER_WRITE = RollNeeds(per_write=True)


def _defined_at(cls: type, name: str) -> int:
    """The position in ``cls.__mro__`` of the class that defines ``name`` (-1 if none does)."""
    for index, klass in enumerate(cls.__mro__):
        if name in vars(klass):
            return index
    return -1


def needs_of(checker: Any, archive: ActiveArchive) -> RollNeeds:
    """What ``checker`` needs for ``archive``: its own ``needs(archive)``, unless it has none or
    its ``check`` was overridden after ``needs`` was declared (then: ask after every write)."""
    needs = getattr(checker, "needs", None)
    if needs is None:
        return _PER_WRITE
    cls = type(checker)
    if _defined_at(cls, "check") < _defined_at(cls, "needs"):
        return _PER_WRITE
    answer = needs(archive)
    if not isinstance(answer, RollNeeds):
        raise TypeError(
            f"{checker!r}.needs() returned {answer!r}; a roll checker's needs() returns a RollNeeds"
        )
    return answer


class RollPolicy:
    """Decide, for the writer, when the active archive rolls: when any of ``checkers`` says so.

    Thread-unsafe on its own: the writer calls it under its lock.
    """

    def __init__(self, checkers: Sequence[Any]) -> None:
        self.checkers = list(checkers)
        self.max_bytes: float = math.inf
        self.max_records: float = math.inf
        self.per_write: list[Any] = []  # asked after every record and on the timer
        self.timed: list[Any] = []  # asked on the timer (the per-write ones included)

    def start(self, archive: ActiveArchive) -> None:
        """Start every checker on a new ``archive`` and gather what they need (once per archive:
        a checker's ``start`` may change its limit)."""
        for checker in self.checkers:
            checker.start(archive)
        self.max_bytes = self.max_records = math.inf
        self.per_write, self.timed = [], []
        for checker in self.checkers:
            needs = needs_of(checker, archive)
            self.max_bytes = min(self.max_bytes, needs.max_bytes)
            self.max_records = min(self.max_records, needs.max_records)
            if needs.per_write:
                self.per_write.append(checker)
            if needs.per_write or needs.timed:
                self.timed.append(checker)
        archive.stop_bytes = self.max_bytes
        archive.stop_records = self.max_records

    def take(
        self, archive: ActiveArchive, records: Sequence[bytes], start: int, end: int
    ) -> tuple[int, bool]:
        """Put encoded ``records[start:end]`` into ``archive`` until a limit is reached.

        Returns the index of the first record not taken and whether a limit says roll now (after
        the last record taken). With a per-write checker, one record is taken per call: the
        caller then asks :meth:`asks_to_roll`, so a checker that raises leaves every record
        accounted for.
        """
        if self.per_write:
            end = start + 1
        while True:
            start = archive.take(records, start, end)
            if self._reached(archive):
                return start, True
            if start >= end:
                return start, False

    def asks_to_roll(self, archive: ActiveArchive) -> bool:
        """Ask the per-write checkers, after a record was taken: whether one says roll now."""
        for checker in self.per_write:
            if checker.check(archive):
                return True
        return False

    def _reached(self, archive: ActiveArchive) -> bool:
        """Whether the archive holds ``max_records`` records or ``max_bytes`` bytes on disk."""
        if archive.record_count >= self.max_records:
            return True
        # The estimate first: it is cheap, and with compression it is an upper bound.
        return archive.size >= self.max_bytes and archive.settled_size() >= self.max_bytes

    def room(self, archive: ActiveArchive, big: int) -> float:
        """How many more records, each under ``big`` bytes, may wait for ``archive`` without any
        of them reaching a limit before the last of them (``inf``: no limit; 1 with a per-write
        checker, which must see every record as it comes)."""
        if self.per_write:
            return 1
        room = self.max_records - archive.record_count
        if self.max_bytes != math.inf:
            free = self.max_bytes - archive.written - _EMPTY_BLOCK - archive.buffered
            room = min(room, free // big)
        return room

    def poll(self, archive: ActiveArchive) -> tuple[bool, float | None]:
        """Ask the timed checkers (on a timer tick): whether one says roll now, else the seconds
        until one may (None: none will by itself)."""
        wait: float | None = None
        for checker in self.timed:
            if checker.check(archive):
                return True, None
            seconds_left = getattr(checker, "seconds_left", None)  # absent on duck types
            left = seconds_left(archive) if seconds_left is not None else None
            if left is not None:
                left = max(left, 0.001)
                wait = left if wait is None else min(wait, left)
        return False, wait

    def __repr__(self) -> str:
        return f"RollPolicy({self.checkers!r})"
