"""Archive format version 2: a file header, then checksummed blocks of msgpack-encoded records.

``docs/FORMAT.md`` is the specification; this module is the reference implementation of its
framing (the one pack / parse pair for each header, the sync marker, the block encoders) and
:mod:`.blocks` of reading blocks back. Every integer in the framing is little-endian;
everything inside a block body is msgpack (big-endian by its own specification). Each block
starts with the file's 16-byte sync marker and carries a CRC-32C over its header and another
over its body, so a reader can check every stored byte and, after damage, find the next good
block by scanning for the sync marker.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

import crc32c as _crc32c
import msgpack

from ..errors import CorruptArchive, TruncatedArchive
from .codec import msgpack_type, unpack_strict

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
MAX_INT = 2**63 - 1  # header and END integers fit a signed 64-bit integer
# A msgpack "array 32" header: the record count is patched in when the block is sealed, so the
# records can be packed one by one into the packer's own buffer.
ARRAY32 = struct.Struct(">BI")

crc32c = _crc32c.crc32c  # crc32c(data, value=0): CRC-32C (Castagnoli), continuable

Report = Callable[[int, int, str], None]
Record = tuple[dict[str, str], "str | bytes"]


class FileHeader(NamedTuple):
    """A parsed file header: its tagged ``fields`` and its ``length`` in bytes (where the first
    block starts). Unpacks as ``fields, length``."""

    fields: dict[str, Any]
    length: int

    @property
    def sync(self) -> bytes:
        """The file's 16-byte sync marker, which starts every block."""
        return self.fields["sync"]  # type: ignore[no-any-return]

    @property
    def created_ns(self) -> int | None:
        """When the writer created the file (ns since the epoch), if recorded."""
        value = self.fields.get("created_ns")
        return value if isinstance(value, int) else None

    @property
    def seq(self) -> int | None:
        """The writer's sequence number of this file, if recorded."""
        value = self.fields.get("seq")
        return value if isinstance(value, int) else None


class BlockHeader(NamedTuple):
    """The fixed header in front of every block (its own CRC-32C checked and left out)."""

    sync: bytes
    stored: int  # body bytes in the file
    raw_len: int  # body bytes once decompressed
    record_count: int  # records in a RECORDS block; the file's total in the END block
    kind: int
    codec: int
    flags: int
    body_crc: int


def pack_file_header(fields: dict[str, Any]) -> bytes:
    """Encode the file header: fixed part, msgpack map of tagged fields, CRC-32C."""
    packed = msgpack.packb(fields, use_bin_type=True)
    head = FILE_HEADER.pack(MAGIC, VERSION, 0, len(packed)) + packed
    return head + crc32c(head).to_bytes(4, "little")


def parse_file_header(data: bytes | bytearray | memoryview, path: str = "") -> FileHeader:
    """Parse and check the file header at the start of ``data`` (the first bytes of a file; any
    bytes after the header are ignored). Raises :class:`TruncatedArchive` when ``data`` ends
    inside the header and :class:`CorruptArchive` when it is damaged, both at offset 0 (FORMAT.md:
    damage in the file header is reported at its start); ``path`` names the file in the error."""

    def damage(reason: str) -> CorruptArchive:
        return CorruptArchive(reason, path=path, offset=0)

    if len(data) < FILE_HEADER.size:
        raise TruncatedArchive("file ends inside the file header", path=path, offset=0)
    magic, version, flags, length = FILE_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise damage("not a shoebox archive (bad magic)")
    if version != VERSION:
        raise damage(f"unsupported format version {version}")
    if flags:
        raise damage(f"unknown file header flag bits {flags:#06x}")
    if length > MAX_HEADER_FIELDS:
        raise damage(f"file header claims {length} bytes of fields (at most {MAX_HEADER_FIELDS})")
    end = FILE_HEADER.size + length
    if len(data) < end + 4:
        raise TruncatedArchive("file ends inside the file header", path=path, offset=0)
    if crc32c(data[:end]) != int.from_bytes(data[end : end + 4], "little"):
        raise damage("file header checksum mismatch")
    try:
        fields = unpack_strict(data[FILE_HEADER.size : end])
    except ValueError as exc:
        raise damage(f"file header fields unreadable: {exc}") from None
    problem = header_fields_problem(fields)
    if problem:
        raise damage(problem)
    return FileHeader(fields, end + 4)


def _is_uint63(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_INT


def header_fields_problem(fields: Any) -> str | None:
    """What is wrong with decoded file header fields (FORMAT.md's table), or None."""
    if type(fields) is not dict:
        return f"file header fields are {msgpack_type(fields)}, not a map"
    for key in fields:
        if type(key) is not str:
            return f"file header key {key!r} is {msgpack_type(key)}, not str"
    sync = fields.get("sync")
    if type(sync) is not bytes or len(sync) != 16:
        return "file header has no 16-byte sync marker"
    for key in ("created_ns", "seq"):
        if key not in fields:
            return f"file header has no {key!r}"
        if not _is_uint63(fields[key]):
            return f"file header {key!r} is not an integer from 0 to 2**63-1: {fields[key]!r:.40}"
    for key in ("name", "writer", "codec", "checksum"):
        if key in fields and type(fields[key]) is not str:
            return f"file header {key!r} is {msgpack_type(fields[key])}, not str"
    if fields.get("codec", "none") not in CODECS:
        return f"file header names an unknown codec {fields['codec']!r:.40}"
    if fields.get("checksum", "crc32c") != "crc32c":
        return f"file header names an unknown checksum {fields['checksum']!r:.40}"
    return None


def end_fields_problem(fields: Any, blocks: int | None) -> str | None:
    """What is wrong with a decoded END body, or None. ``blocks``: the RECORDS blocks read (None
    when some were skipped or not read, so the count cannot be checked)."""
    if type(fields) is not dict:
        return f"end marker body is {msgpack_type(fields)}, not a map"
    for key in fields:
        if type(key) is not str:
            return f"end marker key {key!r} is {msgpack_type(key)}, not str"
    for key in ("sealed_ns", "blocks"):
        if key not in fields:
            return f"end marker has no {key!r}"
        if not _is_uint63(fields[key]):
            return f"end marker {key!r} is not an integer from 0 to 2**63-1: {fields[key]!r:.40}"
    if blocks is not None and fields["blocks"] != blocks:
        return f"end marker counts {fields['blocks']} blocks, the file held {blocks}"
    return None


def read_file_header(stream: BinaryIO, path: str) -> FileHeader:
    """Read the file header from ``stream`` (at its start) and check it; the stream is left at
    the first block. Errors as :func:`parse_file_header`."""
    fixed = stream.read(FILE_HEADER.size)
    length = FILE_HEADER.unpack(fixed)[3] if len(fixed) == FILE_HEADER.size else 0
    if fixed[:8] == MAGIC and length <= MAX_HEADER_FIELDS:  # else parsing says what is wrong
        fixed += stream.read(length + 4)
    return parse_file_header(fixed, path)


def pack_block_header(
    sync: bytes, *, kind: int, count: int, stored: int, raw_len: int, codec: int,
    body_crc: int, flags: int = 0,
) -> bytes:
    """The block header (with its own CRC-32C) for a body of ``stored`` bytes whose CRC-32C is
    ``body_crc`` (``raw_len`` bytes once decompressed by ``codec``)."""
    head = BLOCK_HEADER.pack(sync, stored, raw_len, count, kind, codec, flags, body_crc)
    return head + crc32c(head).to_bytes(4, "little")


def parse_block_header(
    data: bytes | bytearray | memoryview, offset: int = 0, sync: bytes | None = None
) -> BlockHeader:
    """Parse and check the block header at ``offset`` of ``data``.

    Raises :class:`ValueError`, whose message is the reason, when fewer than
    :data:`BLOCK_HEADER_SIZE` bytes are there, when the block does not start with ``sync`` (if
    given), when the header's own checksum fails, or when a field breaks FORMAT.md's rules
    (sizes over :data:`MAX_BLOCK`, an unknown codec, ``stored != raw_len`` without a codec,
    unknown flag bits of a RECORDS or END block, an END block that is compressed or larger than
    :data:`END_BLOCK_SIZE_MAX`). The body is not checked: compare its CRC-32C with ``body_crc``.
    """
    if len(data) - offset < BLOCK_HEADER_SIZE:
        raise ValueError("file ends inside a block header")
    header = BlockHeader._make(BLOCK_HEADER.unpack_from(data, offset))
    if sync is not None and header.sync != sync:
        raise ValueError("block does not start with the sync marker")
    end = offset + BLOCK_HEADER.size
    if crc32c(data[offset:end]) != int.from_bytes(data[end : end + 4], "little"):
        raise ValueError("block header checksum mismatch")
    problem = _block_header_problem(header)
    if problem:
        raise ValueError(problem)
    return header


def _block_header_problem(header: BlockHeader) -> str | None:
    if header.stored > MAX_BLOCK or header.raw_len > MAX_BLOCK:
        return f"block claims {max(header.stored, header.raw_len)} bytes (at most {MAX_BLOCK})"
    if header.codec not in (CODEC_NONE, CODEC_ZSTD):
        return f"unknown block codec {header.codec}"
    if header.codec == CODEC_NONE and header.stored != header.raw_len:
        return (f"uncompressed block has stored_len {header.stored} but raw_len "
                f"{header.raw_len}")
    if header.kind == KIND_RECORDS and header.flags & ~FLAG_RECORD_EXTENSIONS:
        return f"unknown block flag bits {header.flags:#06x}"
    if header.kind == KIND_END:
        if header.flags:
            return f"unknown end marker flag bits {header.flags:#06x}"
        if header.codec != CODEC_NONE:
            return "end marker is compressed"
        if header.stored > END_BLOCK_SIZE_MAX:
            return f"end marker claims {header.stored} bytes (at most {END_BLOCK_SIZE_MAX})"
    return None


def find_sync(data: bytes | bytearray | memoryview, sync: bytes, start: int = 0) -> int:
    """The offset in ``data``, at or after ``start``, of the next block whose header is good
    (starts with ``sync``, its checksum right), or -1.

    How a reader resumes after damage, and how a file is split into byte ranges read apart:
    each range starts at the first good block found from its own first byte. A header is
    confirmed only when all its :data:`BLOCK_HEADER_SIZE` bytes are in ``data``.
    """
    buf = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    at = buf.find(sync, start)
    while at >= 0:
        try:
            parse_block_header(buf, at, sync)
        except ValueError:
            at = buf.find(sync, at + 1)
            continue
        return at
    return -1


def new_sync() -> bytes:
    """A fresh random sync marker for a new file."""
    return os.urandom(16)


def encode_block_header(
    sync: bytes, kind: int, count: int, body: bytes | memoryview, raw_len: int, codec: int
) -> bytes:
    """Frame ``body`` (already encoded and, if ``codec`` says so, compressed)."""
    return pack_block_header(sync, kind=kind, count=count, stored=len(body), raw_len=raw_len,
                             codec=codec, body_crc=crc32c(body))


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
