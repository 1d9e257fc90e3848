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
from .codec import decode_block, unpack_strict
from .v2 import (
    BLOCK_HEADER_SIZE,
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
    end_fields_problem,
    parse_block_header,
    read_file_header,
)

__all__ = ["decompress_body", "iter_blocks", "iter_records"]


def iter_records(stream: BinaryIO, path: str, **options: Any) -> Iterator[Record]:
    """Yield ``(metadata, payload)`` from a v2 archive, checking every checksum; ``options`` as
    :func:`iter_blocks` (``lenient``, ``report``, ``header``, ``start``, ``stop``,
    ``in_progress``)."""
    return chain.from_iterable(iter_blocks(stream, path, **options))


_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"
_UNKNOWN_SIZE = 2**64 - 1  # zstandard's "content size not in the frame header"


def decompress_body(body: Any, raw_len: int, decompressor: Any) -> bytes:
    """The ``raw_len`` bytes of a zstd block body (FORMAT.md: exactly one frame, nothing after
    it, its content size, if it has one, equal to ``raw_len``). Never allocates more than
    ``raw_len`` bytes (plus one), whatever the frame claims. Raises ValueError naming what is
    wrong."""
    import zstandard

    if bytes(body[:4]) != _ZSTD_FRAME:
        raise ValueError("zstd body does not start with a Zstandard frame")
    try:
        declared = zstandard.get_frame_parameters(body).content_size
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd frame header unreadable: {exc}") from None
    if declared != _UNKNOWN_SIZE and declared != raw_len:
        raise ValueError(f"zstd frame holds {declared} bytes, the block header says {raw_len}")
    try:
        # max_output_size=0 would mean "no limit": a cap of 1 byte refuses any output there.
        data = decompressor.decompress(body, max_output_size=raw_len or 1,
                                       allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd body unreadable (a frame larger than raw_len {raw_len}, "
                         f"bytes after the frame, or damage): {exc}") from None
    if len(data) != raw_len:
        raise ValueError(f"zstd frame holds {len(data)} bytes, the block header says {raw_len}")
    return data  # type: ignore[no-any-return]


def iter_blocks(
    stream: BinaryIO,
    path: str,
    *,
    lenient: bool = False,
    report: Report | None = None,
    header: FileHeader | None = None,
    start: int | None = None,
    stop: int | None = None,
    in_progress: bool = False,
) -> Iterator[tuple[Record, ...]]:
    """The records of a v2 archive a block at a time: the tuple of each RECORDS block's records,
    once the whole block is checked (``itertools.chain.from_iterable`` flattens them with no
    Python code run per record).

    Strict: any damage raises :class:`CorruptArchive` (or :class:`TruncatedArchive` when the file
    ends before its end marker) with the path and the byte offset where the bad block starts
    (data after the end marker: the offset of its first byte).
    Lenient: damage is passed to ``report(offset, skipped_bytes, reason)`` and reading resumes at
    the next block whose header and body checksums are good; data after the end marker is
    reported (to the end of the file) and never read as records.

    ``in_progress``: the file is still being written (FORMAT.md, "In-progress files"): a file
    that ends inside a block, or between blocks, ends the records quietly; a block whose bytes
    are all there but wrong is still damage. A reader following such a file resumes at the
    offset of :class:`TruncatedArchive` raised by a strict read without ``in_progress``.

    ``header``: the file header already read (``stream`` is then at its first block). A part of
    a file: ``start``, the offset of a block (see :func:`find_sync`) that ``stream`` is at, and
    ``stop``: no block starting at or after ``stop`` is read. Ranges that split a file at any
    byte offsets, each read from the first block starting in it, read every block once.
    """
    fields, offset = header if header is not None else read_file_header(stream, path)
    # Read from a later block, the end marker's counts cover blocks this read skipped.
    partial = start is not None and start != offset
    offset = offset if start is None else start
    sync: bytes = fields["sync"]
    source: Any = stream
    head = bytearray(BLOCK_HEADER_SIZE)
    head_view = memoryview(head)
    body = bytearray(256 * 1024)
    total = 0
    blocks = 0
    decompressor = None
    damaged = partial

    while True:
        if stop is not None and offset >= stop:
            return
        got = _read_exact(source, head_view)
        if got < BLOCK_HEADER_SIZE:
            if in_progress:
                return
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
                    if in_progress:
                        return
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
                    data = decompress_body(view, raw_len, decompressor)
                else:
                    data = view
                if kind == KIND_RECORDS:
                    # One call per block (format.codec): compiled, or pure Python.
                    records = decode_block(data, count, flags)
                elif kind == KIND_END:
                    if count != total and not damaged:
                        raise ValueError(f"end marker counts {count} records, blocks held {total}")
                    try:
                        end_fields = unpack_strict(data)
                    except ValueError as exc:
                        raise ValueError(f"end marker body unreadable: {exc}") from None
                    reason = end_fields_problem(end_fields, None if damaged else blocks)
                    if reason:
                        raise ValueError(reason)
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
                    if not trailing:
                        return
                    # Data after the end marker belongs to no archive (a file appended to
                    # itself, say): damage to the end of the file, never records.
                    after = CorruptArchive("data after the end marker", path=path, offset=offset)
                    if not lenient:
                        raise after
                    if report is not None:
                        report(offset, 1 + _count_rest(source), after.reason)
                    return
                if kind == KIND_RECORDS:
                    total += count
                    blocks += 1
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


def _count_rest(source: Any) -> int:
    """Read ``source`` to its end; how many bytes that was."""
    n = 0
    while chunk := source.read(1024 * 1024):
        n += len(chunk)
    return n
