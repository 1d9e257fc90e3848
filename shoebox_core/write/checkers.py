"""Roll checkers decide when the active archive is sealed and a new one begins.

The contract is the one stacktach-shoebox users wrote against: ``start(archive)`` is called when a
new archive opens and ``check(archive)`` answers "roll now?". ``archive`` can say how big it is
(``archive.size``, or ``archive.get_file_handle().tell()`` as the seed's checkers did) and how many
records it holds (``archive.record_count``).

Once per archive, right after ``start``, the writer's roll policy (:mod:`shoebox_core.write.policy`)
asks each checker what it needs with ``needs(archive)``, which returns a :class:`RollNeeds`: a
byte limit or a record limit (evaluated inline, without a Python call per record), ``timed`` (the
answer depends on time alone: ``check`` is asked on the writer's timer, waking when
``seconds_left`` says) or ``per_write`` (``check`` is asked after every write, and on the timer
too). The base class answers ``per_write`` for a subclass that overrides ``check``, so a seed-style
checker works unchanged; and a subclass that overrides ``check`` of a class declaring ``needs``
is asked after every write too, unless it declares ``needs`` again.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Protocol, TypeVar

from ..clock import SYSTEM_CLOCK, Clock
from ..options import number

__all__ = [
    "Archive",
    "CountRollChecker",
    "NeverRollChecker",
    "RollChecker",
    "RollNeeds",
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


@dataclass(frozen=True)
class RollNeeds:
    """What a roll checker asks the writer to watch for one archive (the answer of ``needs``).

    ``max_bytes``: roll at the write that makes the archive reach this many bytes on disk;
    ``max_records``: roll at the write that makes it hold this many records (both inclusive,
    evaluated inline by the writer: ``check`` is not called for them). ``timed``: the answer
    depends on time alone, so ``check`` is asked on the writer's timer (which wakes when
    ``seconds_left`` says), never per write. ``per_write``: ``check`` is asked after every write
    and on the timer. ``RollNeeds()`` needs nothing: the checker never rolls.
    """

    max_bytes: float = math.inf
    max_records: float = math.inf
    timed: bool = False
    per_write: bool = False

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_records"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"RollNeeds.{name} must be a number above 0, got {value!r}")


def fast_path(kind: str) -> Callable[[_F], _F]:
    """Deprecated: declare :meth:`RollChecker.needs` instead. Returns ``check`` unchanged (a
    checker marked with it is now asked after every write, which is correct but slower)."""

    def mark(func: _F) -> _F:
        warnings.warn("shoebox: fast_path() is deprecated and does nothing; return a RollNeeds "
                      "from the checker's needs() instead", DeprecationWarning, stacklevel=2)
        return func

    return mark


def time_only(func: _F) -> _F:
    """Deprecated: return ``RollNeeds(timed=True)`` from :meth:`RollChecker.needs` instead.
    Returns ``check`` unchanged (the checker is then asked after every write and on the timer,
    which is correct but slower)."""
    warnings.warn("shoebox: time_only is deprecated and does nothing; return "
                  "RollNeeds(timed=True) from the checker's needs() instead", DeprecationWarning,
                  stacklevel=2)
    return func


class RollChecker:
    """Base class of roll checkers. Subclasses take keyword arguments only."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK

    def start(self, archive: Archive) -> None:
        """Called when a new archive is opened (before its first record is written)."""

    def check(self, archive: Archive) -> bool:
        """Return True when ``archive`` should roll now."""
        return False

    def needs(self, archive: Archive) -> RollNeeds:
        """What the writer must watch for ``archive`` (asked once, right after ``start``).

        The base class answers ``RollNeeds(per_write=True)`` when a subclass overrides ``check``
        (a seed-style checker: asked after every write and on the timer) and ``RollNeeds()``
        (never roll) otherwise. Override it to let the writer evaluate a limit inline or ask only
        on its timer.
        """
        if type(self).check is RollChecker.check:
            return RollNeeds()
        return RollNeeds(per_write=True)

    def seconds_left(self, archive: Archive) -> float | None:
        """Seconds until ``check`` would turn true with no further write, or None if that never
        happens by itself. The writer's timer uses it to wake up on time."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NeverRollChecker(RollChecker):
    """Never rolls: one archive until the writer is closed."""

    def check(self, archive: Archive) -> bool:
        """Always False."""
        return False

    def needs(self, archive: Archive) -> RollNeeds:
        """Nothing to watch."""
        return RollNeeds()


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

    def check(self, archive: Archive) -> bool:
        """True when the archive holds ``roll_bytes`` or more."""
        return archive.get_file_handle().tell() >= self.roll_bytes

    def needs(self, archive: Archive) -> RollNeeds:
        """A byte limit, evaluated inline by the writer."""
        return RollNeeds(max_bytes=self.roll_bytes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roll_size_bytes={self.roll_bytes})"


class CountRollChecker(RollChecker):
    """Roll once the archive holds ``roll_records`` records."""

    def __init__(self, *, roll_records: int | str, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.roll_records = int(
            number(roll_records, "roll_records", owner=type(self).__name__, integer=True)
        )

    def check(self, archive: Archive) -> bool:
        """True when the archive holds ``roll_records`` records or more."""
        return archive.record_count >= self.roll_records

    def needs(self, archive: Archive) -> RollNeeds:
        """A record limit, evaluated inline by the writer."""
        return RollNeeds(max_records=self.roll_records)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roll_records={self.roll_records})"
