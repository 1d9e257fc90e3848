"""ReadingRollManager: stream records back, in write order, from every archive matching a
pattern."""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import zstandard

from ..errors import CorruptArchive, NoMoreFiles, TruncatedArchive
from ..read.sources import Source, find_sources, in_write_order, open_archive, release
from ..ship.callbacks import CallbackChain

__all__ = ["Damage", "NoMoreFiles", "ReadingRollManager", "open_archive", "read_archive"]

log = logging.getLogger("shoebox")

Record = tuple[dict[str, str], "str | bytes"]


# What gzip and zstandard raise on damaged or cut-short data.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError
)
_HEADER_ERRORS: tuple[type[BaseException], ...] = (CorruptArchive, *_DECODE_ERRORS)


@dataclass(frozen=True)
class Damage:
    """A stretch of an archive a lenient reader skipped."""

    path: str
    offset: int
    skipped_bytes: int
    reason: str


def read_archive(
    source: Source | str, *, lenient: bool = False, report: Any = None
) -> Iterator[Record]:
    """Yield the records of one archive (any format, compressed or not)."""
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
    try:
        opened = open_archive(source)
    except _HEADER_ERRORS as exc:
        # A file whose header is damaged: strict readers raise; lenient ones skip the whole file
        # and go on, so one bad file does not stop the files after it.
        problem = exc if isinstance(exc, CorruptArchive) else _decode_problem(exc, source, 0)
        if not lenient:
            if problem is exc:
                raise
            raise problem from exc
        if report is not None:
            report(problem.offset or 0, source.size or 0, problem.reason)
        return
    try:
        yield from opened.archive.batches(lenient=lenient, report=report)
    except _DECODE_ERRORS as exc:
        # Damaged or cut-short gzip / zstd data: report it like any damage, with the offset
        # reached in the compressed file.
        try:
            offset = opened.raw.tell()
        except (OSError, ValueError):
            offset = 0
        problem = _decode_problem(exc, source, offset)
        if not lenient:
            raise problem from exc
        if report is not None:
            report(offset, max((source.size or 0) - offset, 0), problem.reason)
    finally:
        opened.close()


def _decode_problem(exc: BaseException, source: Source, offset: int) -> CorruptArchive:
    kind = TruncatedArchive if isinstance(exc, EOFError) else CorruptArchive
    return kind(f"compressed data unreadable: {exc}", path=source.path, offset=offset)


class ReadingRollManager:
    """Read every archive matching ``filename_template`` in write order.

    ``filename_template`` is a glob pattern matched against file names in ``directory``, or a full
    path, or an fsspec URL (``s3://bucket/prefix/*.events``). ``archive_callback`` (one callback or
    a list) sees ``on_open(name)`` / ``on_close(name)`` for each file read.

    ``read()`` returns ``(metadata, payload)`` and raises :class:`NoMoreFiles` at the end; the
    manager is also an iterator and a context manager. Strict by default: damage raises
    :class:`~shoebox_core.errors.CorruptArchive` naming the file and byte offset. With
    ``lenient=True`` damaged stretches are skipped and listed in ``damage``.
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
    ) -> None:
        self.filename_template = filename_template
        self.directory = directory
        self.archive_callback = archive_callback
        self._chain = CallbackChain(archive_callback)
        self.lenient = lenient
        self.include_in_progress = include_in_progress
        self.storage_options = storage_options
        self.damage: list[Damage] = []
        self.active_filename: str | None = None
        self._files: list[Source] | None = None
        self._batches = self._generate()
        self._current: Iterator[Record] = iter(())  # the records left of the block being read
        # Records are handed out by a C iterator over each block's tuple of records: no Python
        # code runs per record.
        self._records: Iterator[Record] = chain.from_iterable(self._batches)

    @property
    def files(self) -> list[Source]:
        """The matching archives, in the order they will be read."""
        if self._files is None:
            found = find_sources(
                self.filename_template,
                self.directory,
                storage_options=self.storage_options,
                include_in_progress=self.include_in_progress,
            )
            self._files = in_write_order(found)
        return self._files

    @property
    def skipped_bytes(self) -> int:
        """Bytes a lenient reader skipped."""
        return sum(d.skipped_bytes for d in self.damage)

    def _generate(self) -> Generator[Iterator[Record], None, None]:
        for source in self.files:
            if source.size == 0:
                continue
            path = source.path
            self.active_filename = path
            self._chain.on_open(path)

            def report(offset: int, skipped: int, reason: str, _path: str = path) -> None:
                log.warning("shoebox: skipped %d bytes of %s at byte %d: %s", skipped, _path,
                            offset, reason)
                self.damage.append(Damage(_path, offset, skipped, reason))

            try:
                for batch in _read_batches(source, lenient=self.lenient, report=report):
                    self._current = iter(batch)
                    yield self._current
            finally:
                self.active_filename = None
                self._chain.on_close(path)

    def read(self) -> Record:
        """The next ``(metadata, payload)``; raises NoMoreFiles when every file has been read."""
        try:
            return next(self._records)
        except StopIteration:
            raise NoMoreFiles(f"no more records in {self.filename_template!r}") from None

    def __iter__(self) -> Iterator[Record]:
        return self._records

    def close(self) -> None:
        """Stop reading; closes the current file (its on_close callback runs) and any file
        still open from finding the write order."""
        self._batches.close()
        if self._files is not None:
            release(self._files)
        # An iteration under way stops too, rather than finish the block it was in.
        deque(self._current, maxlen=0)

    def __enter__(self) -> ReadingRollManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReadingRollManager({self.filename_template!r}, directory={self.directory!r})"
