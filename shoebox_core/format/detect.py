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
from .compressed import decompressing_reader, sniff_compression

__all__ = ["ArchiveStream", "open_stream", "read_records"]

V1_BATCH = 256  # legacy records handed out per batch
_SNIFF = 8  # enough for the v2 magic, the v1 preamble's magic and either compression's


@dataclass
class ArchiveStream:
    """An archive file opened for reading, past what its first bytes told.

    ``kind`` is ``"v2"``, ``"v1"``, ``"empty"`` or ``"unknown"``; ``compression`` is how the
    whole file is compressed (``"gzip"``, ``"zstd"`` or None); ``header`` is the v2
    :class:`~shoebox_core.format.v2.FileHeader` (None for the other kinds); ``stream`` reads the
    decompressed bytes from the first block on (from the start, for v1).
    """

    path: str
    kind: str
    compression: str | None
    header: _v2.FileHeader | None
    stream: Any
    size: int | None = None  # of the file as stored, when known

    def batches(
        self, *, lenient: bool = False, report: _v2.Report | None = None
    ) -> Iterator[Sequence[_v2.Record]]:
        """The records, a batch at a time (a v2 block; up to 256 v1 records).

        Strict: damage raises :class:`~shoebox_core.errors.CorruptArchive` with the path and byte
        offset. Lenient: ``report(offset, skipped_bytes, reason)`` is called and reading goes on.
        An empty file has no records; a file of unknown kind is damage from its first byte.
        """
        if self.kind == "v2":
            yield from iter_blocks(self.stream, self.path, lenient=lenient, report=report,
                                       header=self.header)
        elif self.kind == "v1":
            legacy = _v1.iter_records(self.stream, self.path, lenient=lenient, report=report)
            while batch := tuple(islice(legacy, V1_BATCH)):
                yield batch
        elif self.kind == "unknown":
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
    only reported."""
    head = raw.read(_SNIFF)
    compression = sniff_compression(head)
    if compression is None:
        stream: Any = _v2._Source(cast(BinaryIO, raw), head)
    else:
        # Put the sniffed bytes back in front of the decompressor, without seeking: ``raw`` may
        # be a pipe, and a remote file would fetch its start again.
        inner = decompressing_reader(cast(IO[bytes], _v2._Source(cast(BinaryIO, raw), head)),
                                     compression)
        head = inner.read(_SNIFF)
        stream = _v2._Source(cast(BinaryIO, inner), head)
    if not head:
        if compression is not None:
            # zstandard's stream reader returns nothing, without an error, for a frame cut
            # short; shoebox never compresses an empty archive.
            raise TruncatedArchive(f"{compression} data decompresses to nothing (cut short?)",
                                   path=path, offset=0)
        return ArchiveStream(path, "empty", None, None, stream, size)
    if head == _v2.MAGIC:
        header = _v2.read_file_header(stream, path)
        return ArchiveStream(path, "v2", compression, header, stream, size)
    kind = "v1" if _v1.sniff(head) else "unknown"
    return ArchiveStream(path, kind, compression, None, stream, size)


def read_records(
    fileobj: IO[bytes] | BinaryIO,
    path: str = "",
    *,
    lenient: bool = False,
    report: _v2.Report | None = None,
) -> Iterator[_v2.Record]:
    """Every ``(metadata, payload)`` of the archive ``fileobj`` holds (v2 or v1, compressed or
    not), read forward once; ``fileobj`` stays the caller's to close. Errors and ``lenient`` /
    ``report`` as :meth:`ArchiveStream.batches`."""
    for batch in open_stream(fileobj, path).batches(lenient=lenient, report=report):
        yield from batch
