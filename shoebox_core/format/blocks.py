"""Reading format v2: the records of an archive, a checked block at a time.

The decoder never trusts a length field (a body is read into a buffer grown only as fast as data
arrives), checks every checksum before decoding, and hands out each block's records as one tuple.
Its framing (file and block headers, sync markers) is :mod:`.v2`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any, BinaryIO

from ..errors import CorruptArchive, TruncatedArchive
from .codec import decode_block
from .v2 import (
    BLOCK_HEADER_SIZE,
    CODEC_NONE,
    CODEC_ZSTD,
    KIND_END,
    KIND_RECORDS,
    FileHeader,
    Record,
    Report,
    _read_exact,
    _read_new,
    _resync,
    _Source,
    crc32c,
    parse_block_header,
    read_file_header,
)

__all__ = ["iter_blocks", "iter_records"]


def iter_records(stream: BinaryIO, path: str, **options: Any) -> Iterator[Record]:
    """Yield ``(metadata, payload)`` from a v2 archive, checking every checksum; ``options`` as
    :func:`iter_blocks` (``lenient``, ``report``, ``header``, ``start``, ``stop``)."""
    return chain.from_iterable(iter_blocks(stream, path, **options))


def iter_blocks(
    stream: BinaryIO,
    path: str,
    *,
    lenient: bool = False,
    report: Report | None = None,
    header: FileHeader | None = None,
    start: int | None = None,
    stop: int | None = None,
) -> Iterator[tuple[Record, ...]]:
    """The records of a v2 archive a block at a time: the tuple of each RECORDS block's records,
    once the whole block is checked (``itertools.chain.from_iterable`` flattens them with no
    Python code run per record).

    Strict: any damage raises :class:`CorruptArchive` (or :class:`TruncatedArchive` when the file
    ends before its end marker) with the path and the byte offset where the bad block starts.
    Lenient: damage is passed to ``report(offset, skipped_bytes, reason)`` and reading resumes at
    the next block whose header and body checksums are good.

    ``header``: the file header already read (``stream`` is then at its first block). A part of
    a file: ``start``, the offset of a block (see :func:`find_sync`) that ``stream`` is at, and
    ``stop``: no block starting at or after ``stop`` is read. Ranges that split a file at any
    byte offsets, each read from the first block starting in it, read every block once.
    """
    fields, offset = header if header is not None else read_file_header(stream, path)
    # Read from a later block, the end marker's count covers blocks this read skipped.
    partial = start is not None and start != offset
    offset = offset if start is None else start
    sync: bytes = fields["sync"]
    source: Any = stream
    head = bytearray(BLOCK_HEADER_SIZE)
    head_view = memoryview(head)
    body = bytearray(256 * 1024)
    total = 0
    decompressor = None
    damaged = partial

    while True:
        if stop is not None and offset >= stop:
            return
        got = _read_exact(source, head_view)
        if got < BLOCK_HEADER_SIZE:
            where = "before its end marker" if got == 0 else "inside a block header"
            problem: CorruptArchive = TruncatedArchive(
                f"file ends {where}", path=path, offset=offset
            )
            carry = bytes(head[1:got])
            first = 1 if got else 0  # the byte at ``offset``, which ``carry`` leaves out
        else:
            problem = None  # type: ignore[assignment]
            carry = bytes(head[1:])
            first = 1
            try:
                _sync, stored, raw_len, count, kind, codec, flags, body_crc = (
                    parse_block_header(head, 0, sync)
                )
            except ValueError as exc:
                problem = CorruptArchive(str(exc), path=path, offset=offset)
            else:
                if stored <= len(body):
                    view = memoryview(body)[:stored]
                    n = _read_exact(source, view)
                else:
                    body = _read_new(source, stored)
                    n = len(body)
                    view = memoryview(body)[:stored]
                if n < stored:
                    problem = TruncatedArchive("file ends inside a block", path=path, offset=offset)
                    carry += bytes(view[:n])
                elif crc32c(view) != body_crc:
                    problem = CorruptArchive("block checksum mismatch", path=path, offset=offset)
                    carry += bytes(view)
        if problem is None:
            try:
                if kind != KIND_RECORDS and kind != KIND_END:
                    # An unknown kind of block: room for future extensions. Its body (whatever
                    # its codec) and its count mean nothing to this reader: skip it unread.
                    data: Any = None
                elif codec == CODEC_ZSTD:
                    if decompressor is None:
                        import zstandard

                        decompressor = zstandard.ZstdDecompressor()
                    data = decompressor.decompress(view, max_output_size=raw_len)
                elif codec == CODEC_NONE:
                    data = view
                else:
                    raise ValueError(f"unknown block codec {codec}")
                if kind == KIND_RECORDS:
                    # One call per block (format.codec): compiled, or pure Python.
                    records = decode_block(data, count, flags)
                elif kind == KIND_END:
                    if count != total and not damaged:
                        raise ValueError(f"end marker counts {count} records, blocks held {total}")
                else:
                    records = ()
            except Exception as exc:
                problem = CorruptArchive(f"block content unreadable: {exc}", path=path,
                                         offset=offset)
                carry = bytes(head[1:]) + bytes(view)
            else:
                offset += BLOCK_HEADER_SIZE + stored
                if kind == KIND_END:
                    trailing = source.read(1)
                    if trailing:
                        problem = CorruptArchive("data after the end marker", path=path,
                                                 offset=offset)
                        carry = trailing
                        first = 0  # here ``carry`` starts at ``offset`` itself
                    else:
                        return
                else:
                    if kind == KIND_RECORDS:
                        total += count
                        if count:
                            yield records
                            # Let the consumer's records go before the next block is decoded.
                            records = data = None
                    continue
        # Damage: raise, or skip to the next block that starts with the sync marker.
        if not lenient:
            raise problem
        damaged = True
        if not isinstance(source, _Source):
            source = _Source(stream)
        skipped, pending = _resync(source, carry, sync)
        if report is not None:
            report(offset, skipped + first, problem.reason)
        if pending is None:
            return
        offset += skipped + first
        source.pending = pending + source.pending
