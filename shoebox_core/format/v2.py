"""Archive format version 2: a file header, then checksummed blocks of msgpack-encoded records.

``docs/FORMAT.md`` is the specification; this module is the reference implementation. Every integer
in the framing is little-endian; everything inside a block body is msgpack (big-endian by its own
specification). Each block starts with the file's 16-byte sync marker and carries a CRC-32C over
its header and another over its body, so a reader can check every stored byte and, after damage,
find the next good block by scanning for the sync marker.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import crc32c as _crc32c
import msgpack

from ..errors import CorruptArchive, TruncatedArchive

MAGIC = b"\x89SBX\r\n\x1a\n"
VERSION = 2
FILE_HEADER = struct.Struct("<8sHHI")  # magic, version, flags, length of the header fields
# sync, stored, raw, count, kind, codec, flags, body crc
BLOCK_HEADER = struct.Struct("<16sIIIBBHI")
BLOCK_HEADER_SIZE = BLOCK_HEADER.size + 4  # + CRC-32C of the header itself
END_BLOCK_SIZE_MAX = 64 * 1024

KIND_RECORDS = 1
KIND_END = 2
CODEC_NONE = 0
CODEC_ZSTD = 1
CODECS = {"none": CODEC_NONE, "zstd": CODEC_ZSTD}
FLAG_RECORD_EXTENSIONS = 1  # records may carry more than two elements (tagged extensions)

MAX_HEADER_FIELDS = 1024 * 1024
MAX_BLOCK = 1024 * 1024 * 1024
# A msgpack "array 32" header: the record count is patched in when the block is sealed, so the
# records can be packed one by one into the packer's own buffer.
ARRAY32 = struct.Struct(">BI")

crc32c = _crc32c.crc32c  # crc32c(data, value=0): CRC-32C (Castagnoli), continuable

Report = Callable[[int, int, str], None]
Record = tuple[dict[str, str], "str | bytes"]


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed in an archive")


def encode_file_header(fields: dict[str, Any]) -> bytes:
    """Encode the file header: fixed part, msgpack map of tagged fields, CRC-32C."""
    packed = msgpack.packb(fields, use_bin_type=True)
    head = FILE_HEADER.pack(MAGIC, VERSION, 0, len(packed)) + packed
    return head + crc32c(head).to_bytes(4, "little")


def new_sync() -> bytes:
    """A fresh random sync marker for a new file."""
    return os.urandom(16)


def encode_block_header(
    sync: bytes, kind: int, count: int, body: bytes | memoryview, raw_len: int, codec: int
) -> bytes:
    """Frame ``body`` (already encoded and, if ``codec`` says so, compressed)."""
    head = BLOCK_HEADER.pack(sync, len(body), raw_len, count, kind, codec, 0, crc32c(body))
    return head + crc32c(head).to_bytes(4, "little")


def encode_end_block(sync: bytes, total: int, fields: dict[str, Any]) -> bytes:
    """The end marker: a block of kind END whose count is the file's total record count."""
    body = msgpack.packb(fields, use_bin_type=True)
    return encode_block_header(sync, KIND_END, total, body, len(body), CODEC_NONE) + body


def _read_exact(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream``; return how many bytes were read (short only at EOF)."""
    total = 0
    size = len(view)
    while total < size:
        n = stream.readinto(view[total:])  # type: ignore[attr-defined]
        if not n:
            break
        total += n
    return total


_GROW_STEP = 16 * 1024 * 1024


def _read_new(source: Any, stored: int) -> bytearray:
    """Read a ``stored``-byte body into a new buffer, grown only as fast as data arrives.

    A length field may lie (damage, or a crafted file): memory never exceeds what the stream
    really holds plus one step. The result is shorter than ``stored`` when the stream ends first.
    """
    grown = bytearray(min(stored, _GROW_STEP))
    filled = _read_exact(source, memoryview(grown))
    while filled == len(grown) < stored:
        grown += bytes(min(_GROW_STEP, stored - len(grown)))
        filled += _read_exact(source, memoryview(grown)[filled:])
    del grown[filled:]
    return grown


def read_file_header(stream: BinaryIO, path: str) -> tuple[dict[str, Any], int]:
    """Read and check the file header; return its fields and its length in bytes."""
    fixed = stream.read(FILE_HEADER.size)
    if len(fixed) < FILE_HEADER.size:
        raise TruncatedArchive("file ends inside the file header", path=path, offset=0)
    magic, version, _flags, length = FILE_HEADER.unpack(fixed)
    if magic != MAGIC:
        raise CorruptArchive("not a shoebox archive (bad magic)", path=path, offset=0)
    if version != VERSION:
        raise CorruptArchive(f"unsupported format version {version}", path=path, offset=8)
    if length > MAX_HEADER_FIELDS:
        raise CorruptArchive(f"file header claims {length} bytes of fields", path=path, offset=12)
    rest = stream.read(length + 4)
    if len(rest) < length + 4:
        raise TruncatedArchive("file ends inside the file header", path=path, offset=0)
    if crc32c(fixed + rest[:length]) != int.from_bytes(rest[length:], "little"):
        raise CorruptArchive("file header checksum mismatch", path=path, offset=0)
    try:
        fields = msgpack.unpackb(rest[:length], raw=False, ext_hook=_refuse_ext)
    except Exception as exc:
        raise CorruptArchive(
            f"file header fields unreadable: {exc}", path=path, offset=16
        ) from None
    sync = fields.get("sync") if isinstance(fields, dict) else None
    if not isinstance(sync, bytes) or len(sync) != 16:
        raise CorruptArchive("file header has no 16-byte sync marker", path=path, offset=16)
    return fields, FILE_HEADER.size + length + 4


class _Source:
    """A stream with a push-back buffer, used once a lenient reader has had to rescan."""

    def __init__(self, stream: BinaryIO, pending: bytes = b""):
        self.stream = stream
        self.pending = pending

    def readinto(self, view: memoryview) -> int:
        if self.pending:
            n = min(len(view), len(self.pending))
            view[:n] = self.pending[:n]
            self.pending = self.pending[n:]
            return n
        return self.stream.readinto(view)  # type: ignore[attr-defined,no-any-return]

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        got = _read_exact(self, memoryview(buf))  # type: ignore[arg-type]
        return bytes(buf[:got])


def _resync(source: _Source, carry: bytes, sync: bytes) -> tuple[int, bytes | None]:
    """Scan ``carry`` and then the stream for ``sync``.

    Returns the number of bytes skipped and the data from the sync marker on (None at end of file).
    """
    window = bytearray(carry)
    skipped = 0
    while True:
        i = window.find(sync)
        if i >= 0:
            return skipped + i, bytes(window[i:])
        keep = len(sync) - 1
        if len(window) > keep:
            skipped += len(window) - keep
            del window[: len(window) - keep]
        chunk = source.read(1024 * 1024)
        if not chunk:
            return skipped + len(window), None
        window += chunk


def iter_records(
    stream: BinaryIO,
    path: str,
    *,
    lenient: bool = False,
    report: Report | None = None,
    header: tuple[dict[str, Any], int] | None = None,
) -> Iterator[Record]:
    """Yield ``(metadata, payload)`` from a v2 archive, checking every checksum.

    Strict: any damage raises :class:`CorruptArchive` (or :class:`TruncatedArchive` when the file
    ends before its end marker) with the path and the byte offset where the bad block starts.
    Lenient: damage is passed to ``report(offset, skipped_bytes, reason)`` and reading resumes at
    the next block whose header and body checksums are good.
    """
    for block in iter_blocks(stream, path, lenient=lenient, report=report, header=header):
        yield from block


def iter_blocks(
    stream: BinaryIO,
    path: str,
    *,
    lenient: bool = False,
    report: Report | None = None,
    header: tuple[dict[str, Any], int] | None = None,
) -> Iterator[tuple[Record, ...]]:
    """Like :func:`iter_records`, a block at a time: yields the tuple of each RECORDS block's
    records once the whole block is checked (``itertools.chain.from_iterable`` flattens them
    with no Python code run per record)."""
    fields, offset = header if header is not None else read_file_header(stream, path)
    sync: bytes = fields["sync"]
    source: Any = stream
    head = bytearray(BLOCK_HEADER_SIZE)
    head_view = memoryview(head)
    body = bytearray(256 * 1024)
    total = 0
    unpackb = msgpack.unpackb
    decompressor = None
    damaged = False

    while True:
        got = _read_exact(source, head_view)
        if got < BLOCK_HEADER_SIZE:
            where = "before its end marker" if got == 0 else "inside a block header"
            problem: CorruptArchive = TruncatedArchive(
                f"file ends {where}", path=path, offset=offset
            )
            carry = bytes(head[1:got])
            first = 1 if got else 0  # the byte at ``offset``, which ``carry`` leaves out
        else:
            (b_sync, stored, raw_len, count, kind, codec, flags, body_crc) = (
                BLOCK_HEADER.unpack_from(head)
            )
            problem = None  # type: ignore[assignment]
            carry = bytes(head[1:])
            first = 1
            if b_sync != sync:
                problem = CorruptArchive("block does not start with the sync marker", path=path,
                                         offset=offset)
            elif crc32c(head_view[:-4]) != int.from_bytes(head[-4:], "little"):
                problem = CorruptArchive("block header checksum mismatch", path=path, offset=offset)
            elif stored > MAX_BLOCK or raw_len > MAX_BLOCK:
                problem = CorruptArchive(f"block claims {max(stored, raw_len)} bytes", path=path,
                                         offset=offset)
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
                    records = unpackb(data, raw=False, use_list=False, ext_hook=_refuse_ext,
                                      strict_map_key=True)
                    if type(records) is not tuple or len(records) != count:
                        raise ValueError("record count does not match the block header")
                    if flags & FLAG_RECORD_EXTENSIONS:
                        records = tuple(r[:2] for r in records)
                    if bytes(map(len, records)) != b"\x02" * count:  # every record a pair
                        raise ValueError("a record is not a (metadata, payload) pair")
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
