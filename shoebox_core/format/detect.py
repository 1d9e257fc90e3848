"""What an open archive file holds, told from its first bytes, and its records.

:func:`open_stream` takes a file already open (local, remote or a pipe; it is read forward only)
and looks at its first bytes once: gzip or zstd compression, then a v2 file header, a
stacktach-shoebox v1 preamble, nothing at all, or something else. The returned
:class:`ArchiveStream` goes on from there, so nothing is read twice and the file is never reopened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any, BinaryIO, cast

from ..errors import CorruptArchive, TruncatedArchive
from . import v1 as _v1
from . import v2 as _v2
from .blocks import iter_blocks
from .compressed import StrictDecompressor, sniff_compression

__all__ = ["ArchiveStream", "open_stream", "read_records"]

V1_BATCH = 256  # legacy records handed out per batch
_SNIFF = 8  # enough for the v2 magic, the v1 preamble's magic and either compression's


@dataclass
class ArchiveStream:
    """An archive file opened for reading, past what its first bytes told.

    ``kind`` is ``"v2"``, ``"v1"`` or ``"unknown"`` (an empty file raises when opened);
    ``compression`` is how the whole file is compressed (``"gzip"``, ``"zstd"`` or None);
    ``header`` is the v2 :class:`~shoebox_core.format.v2.FileHeader` (None for the other kinds);
    ``stream`` reads the decompressed bytes from the first block on (from the start, for v1).
    """

    path: str
    kind: str
    compression: str | None
    header: _v2.FileHeader | None
    stream: Any
    size: int | None = None  # of the file as stored, when known

    def batches(
        self, *, lenient: bool = False, report: _v2.Report | None = None,
        in_progress: bool = False,
    ) -> Iterator[Sequence[_v2.Record]]:
        """The records, a batch at a time (a v2 block; up to 256 v1 records).

        Strict: damage raises :class:`~shoebox_core.errors.CorruptArchive` with the path and byte
        offset. Lenient: ``report(offset, skipped_bytes, reason)`` is called and reading goes on.
        A file of unknown kind is damage from its first byte. ``in_progress``: a v2 file still
        being written ends quietly at its last complete block
        (:func:`~shoebox_core.format.blocks.iter_blocks`).
        """
        try:
            yield from self._batches(lenient, report, in_progress)
        except CorruptArchive as exc:
            # Leniently, only the whole-file decompressor raises (FORMAT.md: damage in the
            # compressed stream ends the reading there).
            if not lenient or self.compression is None:
                raise
            if report is not None:
                report(exc.offset or 0, 0, exc.reason)

    def _batches(
        self, lenient: bool, report: _v2.Report | None, in_progress: bool
    ) -> Iterator[Sequence[_v2.Record]]:
        if self.kind == "v2":
            yield from iter_blocks(self.stream, self.path, lenient=lenient, report=report,
                                   header=self.header, in_progress=in_progress)
        elif self.kind == "v1":
            legacy = _v1.iter_records(self.stream, self.path, lenient=lenient, report=report)
            while batch := tuple(islice(legacy, V1_BATCH)):
                yield batch
        else:
            problem = CorruptArchive("not a shoebox archive (unknown magic)", path=self.path,
                                     offset=0)
            if not lenient:
                raise problem
            if report is not None:
                report(0, self.size or 0, problem.reason)


def open_stream(
    raw: IO[bytes] | BinaryIO, path: str = "", size: int | None = None
) -> ArchiveStream:
    """Look at the first bytes of ``raw`` (open for binary reading, at its start) and say what it
    holds; a v2 file header is read and checked here (its errors raise). ``raw`` is only read
    forward, and stays the caller's to close. ``path`` and ``size`` (of the file as stored) are
    only reported.

    How the kind is told (FORMAT.md, "Telling the kinds apart"): gzip or zstd magic, then the rest
    is told from the decompressed bytes; the v2 magic; a v1 preamble; anything else is not an
    archive (:class:`CorruptArchive` at 0 when read). A file (or decompressed stream) that is
    empty, or shorter than and equal to the start of a v2 magic or v1 preamble, raises
    :class:`TruncatedArchive` at 0: no writer leaves such a file.
    """
    head = raw.read(_SNIFF)
    compression = sniff_compression(head)
    if compression is None:
        stream: Any = _v2._Source(cast(BinaryIO, raw), head)
    else:
        # Put the sniffed bytes back in front of the decompressor, without seeking: ``raw`` may
        # be a pipe, and a remote file would fetch its start again.
        inner = StrictDecompressor(cast(IO[bytes], _v2._Source(cast(BinaryIO, raw), head)),
                                   compression, path)
        head = _read_head(inner)
        stream = _v2._Source(cast(BinaryIO, inner), head)
    if len(head) < _SNIFF and (_v2.MAGIC.startswith(head) or _v1.sniff_prefix(head)):
        what = f"{compression} data decompresses to" if compression else "file holds"
        raise TruncatedArchive(f"{what} {len(head)} bytes: cut short before any record",
                               path=path, offset=0)
    if head == _v2.MAGIC:
        header = _v2.read_file_header(stream, path)
        return ArchiveStream(path, "v2", compression, header, stream, size)
    kind = "v1" if _v1.sniff(head) else "unknown"
    return ArchiveStream(path, kind, compression, None, stream, size)


def _read_head(stream: Any) -> bytes:
    """The first ``_SNIFF`` bytes of ``stream`` (fewer only at its end)."""
    buf = bytearray(_SNIFF)
    got = _v2._read_exact(stream, memoryview(buf))
    return bytes(buf[:got])


def read_records(
    fileobj: IO[bytes] | BinaryIO,
    path: str = "",
    *,
    lenient: bool = False,
    report: _v2.Report | None = None,
    in_progress: bool = False,
) -> Iterator[_v2.Record]:
    """Every ``(metadata, payload)`` of the archive ``fileobj`` holds (v2 or v1, compressed or
    not), read forward once; ``fileobj`` stays the caller's to close. Errors, ``lenient`` /
    ``report`` and ``in_progress`` as :meth:`ArchiveStream.batches`; leniently, a damaged file
    header is reported (from offset 0 to the end of the file) and no record is returned."""
    size = None
    if getattr(fileobj, "seekable", lambda: False)():
        here = fileobj.tell()
        size = fileobj.seek(0, 2) - here
        fileobj.seek(here)
    try:
        archive = open_stream(fileobj, path, size)
    except CorruptArchive as exc:
        if in_progress and isinstance(exc, TruncatedArchive):
            return  # a file just created: its header is not all written yet
        if not lenient:
            raise
        if report is not None:
            report(0, size or 0, exc.reason)
        return
    for batch in archive.batches(lenient=lenient, report=report, in_progress=in_progress):
        yield from batch
