"""Roll checkers decide when the active archive is sealed and a new one begins.

The contract is the one stacktach-shoebox users wrote against: ``start(archive)`` is called when a
new archive opens and ``check(archive)`` answers "roll now?". ``archive`` can say how big it is
(``archive.size``, or ``archive.get_file_handle().tell()`` as the seed's checkers did) and how many
records it holds (``archive.record_count``).

A user's subclass that overrides ``check`` is called after every write and, so that time-based rules
fire without waiting for a write, on every tick of the writer's timer. The core's own checkers mark
their ``check`` with :func:`fast_path`; the writer then evaluates the same rule inline (a size or
count comparison) or only on timer ticks, without a Python call per record. A subclass that
overrides ``check`` loses the mark and so is always honoured.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, TypeVar

from ..clock import SYSTEM_CLOCK, Clock
from ..options import number

__all__ = [
    "Archive",
    "CountRollChecker",
    "NeverRollChecker",
    "RollChecker",
    "SizeRollChecker",
    "fast_path",
    "time_only",
]

MB = 1024 * 1024

_F = TypeVar("_F", bound=Callable[..., Any])


class _FileHandle(Protocol):
    def tell(self) -> int: ...


class Archive(Protocol):
    """What a roll checker may ask of the active archive."""

    filename: str

    @property
    def size(self) -> int:
        """Bytes the archive occupies on disk, counting records accepted but not yet flushed."""

    @property
    def record_count(self) -> int:
        """Records written to this archive."""

    def get_file_handle(self) -> _FileHandle:
        """A handle whose ``tell()`` is ``size`` (the seed's way to ask)."""


def fast_path(kind: str) -> Callable[[_F], _F]:
    """Mark a core ``check`` method as one the writer may evaluate without calling it.

    ``kind`` is ``"never"``, ``"size"`` (the checker has ``roll_bytes``), ``"count"`` (the checker
    has ``roll_records``) or ``"time"`` (the answer depends on the clock only, not on writes).
    """

    def mark(func: _F) -> _F:
        func._shoebox_fast = kind  # type: ignore[attr-defined]
        return func

    return mark


def time_only(func: _F) -> _F:
    """Mark a ``check`` whose answer depends only on the clock: it is polled by the writer's timer
    (see ``seconds_left``) instead of after every write. Plugin authors may use it on their own
    time-based checkers."""
    return fast_path("time")(func)


class RollChecker:
    """Base class of roll checkers. Subclasses take keyword arguments only."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK

    def start(self, archive: Archive) -> None:
        """Called when a new archive is opened (before its first record is written)."""

    def check(self, archive: Archive) -> bool:
        """Return True when ``archive`` should roll now."""
        return False

    def seconds_left(self, archive: Archive) -> float | None:
        """Seconds until ``check`` would turn true with no further write, or None if that never
        happens by itself. The writer's timer uses it to wake up on time."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NeverRollChecker(RollChecker):
    """Never rolls: one archive until the writer is closed."""

    @fast_path("never")
    def check(self, archive: Archive) -> bool:
        """Always False."""
        return False


class SizeRollChecker(RollChecker):
    """Roll once the archive reaches ``roll_size_mb`` MiB on disk (inclusive: at, not past).

    Give exactly one of ``roll_size_mb`` (MiB, fractions allowed) and ``roll_size_bytes``.
    """

    def __init__(
        self,
        *,
        roll_size_mb: float | int | str | None = None,
        roll_size_bytes: float | int | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        owner = type(self).__name__
        if (roll_size_mb is None) == (roll_size_bytes is None):
            raise TypeError(f"{owner} takes exactly one of roll_size_mb= and roll_size_bytes=")
        if roll_size_mb is not None:
            self.roll_bytes = max(1, int(number(roll_size_mb, "roll_size_mb", owner=owner) * MB))
        else:
            self.roll_bytes = int(
                number(roll_size_bytes, "roll_size_bytes", owner=owner, integer=True)
            )

    @property
    def roll_size_mb(self) -> float:
        """The limit in MiB."""
        return self.roll_bytes / MB

    @fast_path("size")
    def check(self, archive: Archive) -> bool:
        """True when the archive holds ``roll_bytes`` or more."""
        return archive.get_file_handle().tell() >= self.roll_bytes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roll_size_bytes={self.roll_bytes})"


class CountRollChecker(RollChecker):
    """Roll once the archive holds ``roll_records`` records."""

    def __init__(self, *, roll_records: int | str, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.roll_records = int(
            number(roll_records, "roll_records", owner=type(self).__name__, integer=True)
        )

    @fast_path("count")
    def check(self, archive: Archive) -> bool:
        """True when the archive holds ``roll_records`` records or more."""
        return archive.record_count >= self.roll_records

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roll_records={self.roll_records})"
