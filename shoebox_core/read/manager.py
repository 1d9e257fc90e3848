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
from itertools import chain, islice
from typing import IO, Any, BinaryIO, cast

import zstandard

from ..errors import CorruptArchive, ShoeboxError, TruncatedArchive
from ..format import v1 as _v1
from ..format import v2 as _v2
from ..format.compressed import decompressing_reader, sniff_compression
from ..read.sources import Source, find_sources
from ..ship.callbacks import CallbackChain

__all__ = ["Damage", "NoMoreFiles", "ReadingRollManager", "open_archive", "read_archive"]

log = logging.getLogger("shoebox")

Record = tuple[dict[str, str], "str | bytes"]
_V1_BATCH = 256  # legacy records handed out per batch


# What gzip and zstandard raise on damaged or cut-short data.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError
)
_UNORDERABLE: tuple[type[BaseException], ...] = (OSError, ShoeboxError, *_DECODE_ERRORS)
_HEADER_ERRORS: tuple[type[BaseException], ...] = (CorruptArchive, *_DECODE_ERRORS)


class NoMoreFiles(ShoeboxError):
    """Raised by ``ReadingRollManager.read()`` once every matching archive has been read."""


@dataclass(frozen=True)
class Damage:
    """A stretch of an archive a lenient reader skipped."""

    path: str
    offset: int
    skipped_bytes: int
    reason: str


def open_archive(source: Source) -> tuple[IO[bytes], Any, str, Any]:
    """Open ``source`` and detect what it holds, decompressing ``.gz`` / ``.zst`` transparently.

    Returns ``(raw_file, stream, kind, header)``: ``kind`` is ``"v2"``, ``"v1"``, ``"empty"`` or
    ``"unknown"``; ``header`` is the v2 header ``(fields, length)`` already read, else None.
    """
    raw = source.open()
    try:
        head = raw.read(8)
        codec = sniff_compression(head)
        if codec is None:
            stream: Any = _v2._Source(cast(BinaryIO, raw), head)
        else:
            raw.seek(0)
            inner = decompressing_reader(raw, codec)
            head = inner.read(8)
            stream = _v2._Source(cast(BinaryIO, inner), head)
        if not head:
            if codec is not None:
                # zstandard's stream reader returns nothing, without an error, for a frame cut
                # short; shoebox never compresses an empty archive.
                raise TruncatedArchive(f"{codec} data decompresses to nothing (cut short?)",
                                       path=source.path, offset=0)
            return raw, stream, "empty", None
        if head == _v2.MAGIC:
            return raw, stream, "v2", _v2.read_file_header(stream, source.path)
        if _v1.sniff(head):
            return raw, stream, "v1", None
        return raw, stream, "unknown", None
    except BaseException:
        raw.close()
        raise


def _order_key(source: Source) -> tuple[int, int, str]:
    """Write order: v2 files by (creation time, writer's file sequence); legacy files first."""
    try:
        raw, _stream, kind, header = open_archive(source)
    except _UNORDERABLE:
        return (0, 0, source.name)
    raw.close()
    if kind != "v2":
        return (0, 0, source.name)
    fields = header[0]
    created, seq = fields.get("created_ns"), fields.get("seq")
    return (
        created if isinstance(created, int) else 0,
        seq if isinstance(seq, int) else 0,
        source.name,
    )


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
        raw, stream, kind, header = open_archive(source)
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
        if kind == "v2":
            yield from _v2.iter_blocks(stream, source.path, lenient=lenient, report=report,
                                       header=header)
        elif kind == "v1":
            # Read here, in batches, so that damage is reported from this frame.
            legacy = _v1.iter_records(stream, source.path, lenient=lenient, report=report)
            while batch := tuple(islice(legacy, _V1_BATCH)):
                yield batch
        elif kind == "unknown":
            problem = CorruptArchive("not a shoebox archive (unknown magic)", path=source.path,
                                     offset=0)
            if not lenient:
                raise problem
            if report is not None:
                report(0, source.size or 0, problem.reason)
    except _DECODE_ERRORS as exc:
        # Damaged or cut-short gzip / zstd data: report it like any damage, with the offset
        # reached in the compressed file.
        try:
            offset = raw.tell()
        except (OSError, ValueError):
            offset = 0
        problem = _decode_problem(exc, source, offset)
        if not lenient:
            raise problem from exc
        if report is not None:
            report(offset, max((source.size or 0) - offset, 0), problem.reason)
    finally:
        raw.close()


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
            self._files = sorted(found, key=_order_key)
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
        """Stop reading; closes the current file (its on_close callback runs)."""
        self._batches.close()
        # An iteration under way stops too, rather than finish the block it was in.
        deque(self._current, maxlen=0)

    def __enter__(self) -> ReadingRollManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReadingRollManager({self.filename_template!r}, directory={self.directory!r})"
