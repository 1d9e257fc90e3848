"""Everything shoebox-dask needs from the core below its public API, in one place.

The core's private modules (the v2 block format, sources, compression) may move; only this module
names them. On top of them it adds one thing the core does not do: reading the blocks of a v2
archive that *start* inside a byte range, which is how one big archive is read by many tasks.

How a range is read (the Avro / SequenceFile rule): the blocks a range owns are those that start
at or after the first sync marker at or after the range's start, and before the first sync marker
at or after its end. Both ends are found by the same scan, so neighbouring ranges meet exactly at
a sync marker: every block, and every damaged stretch, belongs to exactly one range. The bytes in
between are decoded by the core's own block reader
(``shoebox_core.format.blocks.iter_blocks``), given a window of the file that ends where the
next range starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import IO, Any

from shoebox_core._fsutil import COMPRESSION_SUFFIXES
from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.format import blocks as _blocks
from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import _read_batches
from shoebox_core.read.sources import Source, find_sources, is_url
from shoebox_core.ship.compress import GzipCallback, ZstdCallback
from shoebox_core.ship.journal import is_journal_file

__all__ = [
    "COMPRESSION_SUFFIXES",
    "archive_sync",
    "find_end_block",
    "find_sync",
    "GzipCallback",
    "Record",
    "Report",
    "Source",
    "ZstdCallback",
    "find_sources",
    "is_journal_file",
    "is_url",
    "read_range",
    "read_whole",
]

Record = tuple[dict[str, str], "str | bytes"]
Report = Callable[[int, int, str], None]

_SCAN_CHUNK = 1024 * 1024
_SYNC_LEN = 16
# The longest END block a tail scan looks for (the core's own bound on an END block).
_TAIL = _v2.END_BLOCK_SIZE_MAX + _v2.BLOCK_HEADER_SIZE


def read_whole(source: Source, *, lenient: bool, report: Report | None) -> Iterator[Record]:
    """Every record of one archive (v2 or v1, compressed or not), read by the core's reader.

    The core hands records out a block at a time; ``chain`` flattens them with no Python code
    run per record.
    """
    return chain.from_iterable(_read_batches(source, lenient=lenient, report=report))


def read_range(
    source: Source, start: int, end: int, *, lenient: bool, report: Report | None
) -> Iterator[Record]:
    """The records of the v2 blocks of ``source`` that start in ``[start, end)`` (see above).

    A sealed file's END block is checked here (by :func:`find_end_block`) and never handed to the
    core's reader, which would compare its count with the records of one range alone. A file
    that turns out not to be an uncompressed v2 archive (its name did not say it was compressed,
    or it is a legacy v1 file) is read whole by the range that starts at 0, and is empty for the
    others.
    """
    raw = source.open()
    try:
        if raw.read(len(_v2.MAGIC)) != _v2.MAGIC:
            if start == 0:
                yield from read_whole(source, lenient=lenient, report=report)
            return
        raw.seek(0)
        try:
            header = _v2.read_file_header(raw, source.path)  # type: ignore[arg-type]
        except CorruptArchive:
            # A damaged file header: reported (or raised) once, by the range that holds it.
            if start == 0:
                yield from read_whole(source, lenient=lenient, report=report)
            return
        fields, header_len = header
        sync: bytes = fields["sync"]
        # The sync marker also sits in the file header: never look for it before the blocks.
        begin = header_len if start <= header_len else find_sync(raw, sync, start)
        if begin is None or begin >= end:
            return
        stop = find_sync(raw, sync, max(end, header_len))
        if stop is None:  # this range reaches the end of the file
            stop = find_end_block(raw, sync, source.size, header_len)
        raw.seek(begin)
        window = _Window(raw, begin, stop)

        def filtered(offset: int, skipped: int, reason: str) -> None:
            # The window's end is where the next range (or the END block) starts.
            if stop is not None and offset == stop:
                return
            if report is not None:
                report(offset, skipped, reason)

        blocks = _blocks.iter_blocks(window, source.path, lenient=lenient,  # type: ignore[arg-type]
                                 report=filtered, header=(fields, begin))
        try:
            yield from chain.from_iterable(_until_window_end(blocks, stop))
        finally:
            blocks.close()
    finally:
        raw.close()


def _until_window_end(blocks: Iterator[Any], stop: int | None) -> Iterator[Any]:
    """The blocks of a window, ending quietly where the window (not the file) ends."""
    try:
        yield from blocks
    except TruncatedArchive as exc:
        if stop is None or exc.offset != stop:
            raise


def find_sync(raw: IO[bytes], sync: bytes, offset: int) -> int | None:
    """The position of the first ``sync`` marker at or after ``offset`` (None: there is none)."""
    raw.seek(offset)
    window = b""
    base = offset  # the file position of window[0]
    step = 64 * 1024  # blocks are usually small: read little first, more while not found
    while True:
        chunk = raw.read(step)
        step = min(step * 2, _SCAN_CHUNK)
        if not chunk:
            return None
        window += chunk
        found = window.find(sync)
        if found >= 0:
            return base + found
        keep = _SYNC_LEN - 1
        base += len(window) - keep
        window = window[-keep:]


def find_end_block(raw: IO[bytes], sync: bytes, size: int | None, header_len: int) -> int | None:
    """Where a sealed archive's END block starts (None if its tail holds no good END block).

    The last range stops there and checks the END block itself: the core's reader would compare
    its record count with the records of the last range alone. A file without a good END block
    is read to its real end, so truncation and damage are reported as usual.
    """
    if size is None:
        return None
    base = max(header_len, size - _TAIL)
    raw.seek(base)
    tail = raw.read(size - base)
    found = tail.rfind(sync)
    while found >= 0:
        head = tail[found: found + _v2.BLOCK_HEADER_SIZE]
        if len(head) == _v2.BLOCK_HEADER_SIZE:
            (_s, stored, _raw, _count, kind, _codec, _flags, body_crc) = (
                _v2.BLOCK_HEADER.unpack_from(head)
            )
            body = tail[found + _v2.BLOCK_HEADER_SIZE:]
            if (
                kind == _v2.KIND_END
                and len(body) == stored
                and _v2.crc32c(head[:-4]) == int.from_bytes(head[-4:], "little")
                and _v2.crc32c(body) == body_crc
            ):
                return base + found
        found = tail.rfind(sync, 0, found)
    return None


class _Window:
    """A read-only view of ``raw`` from its current position (``begin``) to ``stop``."""

    def __init__(self, raw: IO[bytes], begin: int, stop: int | None) -> None:
        self.raw = raw
        self.left = None if stop is None else max(stop - begin, 0)

    def readinto(self, view: memoryview) -> int:
        if self.left is not None:
            if self.left <= 0:
                return 0
            view = view[: self.left]
        n = self.raw.readinto(view) or 0  # type: ignore[attr-defined]
        if self.left is not None:
            self.left -= n
        return int(n)

    def read(self, n: int = -1) -> bytes:
        if self.left is not None:
            n = self.left if n < 0 else min(n, self.left)
        data = self.raw.read(n)
        if self.left is not None:
            self.left -= len(data)
        return data


def archive_sync(source: Source) -> tuple[bytes, int]:
    """The sync marker of a v2 archive and the length of its file header."""
    with source.open() as raw:
        fields, header_len = _v2.read_file_header(raw, source.path)  # type: ignore[arg-type]
    return fields["sync"], header_len
