"""ReadingRollManager: stream records back, in write order, from every archive matching a
pattern; list again before the end, follow the archives being written, resume from a position.

How archives are found, listed again and followed is :mod:`.follow`'s; positions and reading an
archive on from one are :mod:`.position`'s.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import length_hint
from typing import Any

from .._fsutil import INPROGRESS_SUFFIX
from ..errors import NoMoreFiles
from ..read.follow import Follower
from ..read.position import Gap, Position, read_source
from ..read.sources import Source, find_sources, open_archive
from ..ship.callbacks import CallbackChain

__all__ = ["Damage", "Gap", "NoMoreFiles", "ReadingRollManager", "open_archive", "read_archive"]

log = logging.getLogger("shoebox")

Record = tuple[dict[str, str], "str | bytes"]


@dataclass(frozen=True)
class Damage:
    """A stretch of an archive a lenient reader skipped."""

    path: str
    offset: int
    skipped_bytes: int
    reason: str

    @property
    def kind(self) -> str | None:
        """``"truncated"`` or ``"corrupt"`` (FORMAT.md's kinds), as the reader reported it; None
        for a reason that does not say (a plain string)."""
        return getattr(self.reason, "kind", None)


def read_archive(
    source: Source | str, *, lenient: bool = False, report: Any = None
) -> Iterator[Record]:
    """Yield the records of one archive (any format, compressed or not). A file in progress
    (``*.inprogress``) ends quietly at its last complete block."""
    batches = _read_batches(source, lenient=lenient, report=report)
    try:
        for batch in batches:
            yield from batch
    finally:
        batches.close()


def _read_batches(
    source: Source | str, *, lenient: bool = False, report: Any = None
) -> Generator[Sequence[Record], None, None]:
    """The records of one archive, a batch (a v2 block) at a time."""
    if isinstance(source, str):
        source = Source(source, os.path.getsize(source))
    in_progress = source.name.endswith(INPROGRESS_SUFFIX)
    for _block, _since, batch in read_source(source, lenient=lenient, report=report,
                                             in_progress=in_progress):
        yield batch

class ReadingRollManager:
    """Read every archive matching ``filename_template`` in write order.

    ``filename_template`` is a glob pattern matched against file names in ``directory``, or a full
    path, or an fsspec URL (``s3://bucket/prefix/*.events``). ``archive_callback`` (one callback or
    a list) sees ``on_open(name)`` / ``on_close(name)`` for each file read.

    ``read()`` returns ``(metadata, payload)`` and raises :class:`NoMoreFiles` at the end: after
    the archives found first, it lists again and reads those sealed meanwhile that come after
    the last one read; it ends when a fresh listing brings nothing new. The manager is also an
    iterator and a context manager. Strict by default: damage raises
    :class:`~shoebox_core.errors.CorruptArchive` naming the file and byte offset. With
    ``lenient=True`` damaged stretches are skipped and listed in ``damage``. A file in progress
    (``include_in_progress=True``) is read up to its last complete block.

    ``follow=True``: after the last sealed archive, read the complete blocks of the one being
    written as they are flushed, then the next archives as they come, polling every
    ``poll_interval`` seconds (one listing per poll; see :mod:`.follow` for the costs).
    Iterating then waits until :meth:`close` (or :meth:`stop`); ``read(timeout=...)`` waits at
    most ``timeout`` seconds, then raises :class:`NoMoreFiles`.

    ``position`` names the last record returned (a small JSON-serialisable dict, see
    :mod:`.position`); ``start_after=position`` resumes with the record after it, whether its
    archive is still there, renamed, compressed, or gone (then with the next archive; the gap is
    listed in ``gaps``, as are archives that went away before they were read to their end).
    """

    def __init__(
        self,
        filename_template: str,
        directory: str = ".",
        archive_callback: Any = None,
        *,
        lenient: bool = False,
        include_in_progress: bool = False,
        storage_options: dict[str, Any] | None = None,
        follow: bool = False,
        poll_interval: float = 1.0,
        start_after: dict[str, Any] | Position | None = None,
    ) -> None:
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, not "
                             f"{poll_interval!r}")
        self.filename_template = filename_template
        self.directory = directory
        self.archive_callback = archive_callback
        self._chain = CallbackChain(archive_callback)
        self.lenient = lenient
        self.follow = follow
        self.include_in_progress = include_in_progress or follow
        self.storage_options = storage_options
        self.damage: list[Damage] = []
        self.active_filename: str | None = None
        self._follower = Follower(
            self._find, follow=follow, poll_interval=poll_interval, lenient=lenient,
            report=self._damaged, on_open=self._file_opened, on_close=self._file_closed,
            start_after=None if start_after is None else Position.from_json(start_after),
        )
        self._current: Iterator[Record] = iter(())  # the records left of the block being read
        self._size = 0  # records in that block
        self._chained: Iterator[Record] | None = None  # the block iteration is in
        self._final: dict[str, Any] | None = None  # the position when closed
        self._closed = False
        # Records are handed out by a C iterator over each block's tuple of records: no Python
        # code runs per record.
        self._records: Iterator[Record] = chain.from_iterable(iter(self._next_block, None))

    def _find(self) -> list[Source]:
        return find_sources(self.filename_template, self.directory,
                            storage_options=self.storage_options,
                            include_in_progress=self.include_in_progress)

    def _damaged(self, path: str, offset: int, skipped: int, reason: str) -> None:
        log.warning("shoebox: skipped %d bytes of %s at byte %d: %s", skipped, path, offset,
                    reason)
        self.damage.append(Damage(path, offset, skipped, reason))

    def _file_opened(self, path: str) -> None:
        self.active_filename = path
        self._chain.on_open(path)

    def _file_closed(self, path: str) -> None:
        self.active_filename = None
        self._chain.on_close(path)

    @property
    def files(self) -> list[Source]:
        """The matching archives of the latest listing, in the order they are read."""
        return self._follower.listed()

    @property
    def gaps(self) -> list[Gap]:
        """Archives that went away before they were read to their end (and a checkpoint's
        archive that was gone)."""
        return self._follower.gaps

    @property
    def skipped_bytes(self) -> int:
        """Bytes a lenient reader skipped."""
        return sum(d.skipped_bytes for d in self.damage)

    @property
    def position(self) -> dict[str, Any] | None:
        """The last record returned, as a JSON-serialisable dict (None before the first):
        pass it as ``start_after`` to resume with the next record."""
        if self._closed:
            return self._final
        found = self._follower.position(self._size - length_hint(self._current))
        return None if found is None else found.to_json()

    def _fetch(self, deadline: float | None) -> Iterator[Record] | None:
        got = self._follower.next_batch(deadline)
        if got is None:
            return None
        self._current = iter(got[2])
        self._size = len(got[2])
        return self._current

    def _next_block(self) -> Iterator[Record] | None:
        if self._current is not self._chained and length_hint(self._current):
            self._chained = self._current  # a block read() fetched: iteration goes on with it
        else:
            self._chained = self._fetch(None)
        return self._chained

    def read(self, timeout: float | None = None) -> Record:
        """The next ``(metadata, payload)``; raises NoMoreFiles when every file has been read
        or, following, when none came within ``timeout`` seconds (None: wait until closed)."""
        for record in self._current:
            return record
        deadline = None if timeout is None else time.monotonic() + timeout
        while (block := self._fetch(deadline)) is not None:
            for record in block:
                return record
        raise NoMoreFiles(f"no more records in {self.filename_template!r}")

    def __iter__(self) -> Iterator[Record]:
        return self._records

    def stop(self) -> None:
        """Make a waiting ``read()`` or iteration end, without closing (safe from a signal
        handler; ``position`` stays the last record returned)."""
        self._follower.stop()

    def close(self) -> None:
        """Stop reading; closes the current file (its on_close callback runs) and any file
        still open from finding the write order."""
        if self._closed:
            return
        self._final = self.position
        self._closed = True
        self._follower.close()
        # An iteration under way stops too, rather than finish the block it was in.
        deque(self._current, maxlen=0)

    def __enter__(self) -> ReadingRollManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReadingRollManager({self.filename_template!r}, directory={self.directory!r})"
