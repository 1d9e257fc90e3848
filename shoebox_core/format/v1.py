"""Reader for stacktach-shoebox "version 1" archive files, so that old archives can be migrated.

A v1 file is a plain sequence of records with no file header. Each record is::

    preamble   int32 magic 0x69867884, int16 version 1
    header     int32 metadata block length, int32 payload block length, int32 end marker (0)
    metadata   int32 N (= 4 x number of pairs: the original writer's bug), then N/2 int32 lengths
               (key 0, value 0, key 1, value 1, ...), then the key and value bytes in that order
    payload    int32 length, then the payload bytes

Integers are in the writing machine's native byte order. We read little-endian unless the first
record's magic reads big-endian, and keep that order for the whole file. Keys, values and payloads
are UTF-8 (the original wrote JSON text).

Limits of the format: v1 has no checksums and no end-of-file marker, so a flipped byte inside a
key, value or payload, or a file truncated exactly at a record boundary, cannot be detected here.
This is why format v2 exists.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Protocol

from ..errors import CORRUPT, TRUNCATED, CorruptArchive, DamageReason, TruncatedArchive

__all__ = ["MAGIC_BE", "MAGIC_LE", "iter_records", "sniff", "sniff_prefix"]

MAGIC_LE = b"\x84\x78\x86\x69"
MAGIC_BE = b"\x69\x86\x78\x84"
_PREAMBLE = {"<": MAGIC_LE + b"\x01\x00", ">": MAGIC_BE + b"\x00\x01"}
_CHUNK = 1 << 20  # largest single read from the stream

Report = Callable[[int, int, str], None]


class _Readable(Protocol):
    def read(self, n: int = ..., /) -> bytes: ...


class _Damage(Exception):
    """A record does not parse; ``truncated`` if the stream ended inside it."""

    def __init__(self, reason: str, truncated: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.truncated = truncated


def sniff(head: bytes) -> bool:
    """True if ``head`` starts with a v1 preamble (magic and version 1, in either byte order)."""
    return bytes(head[:6]) in _PREAMBLE.values()


def sniff_prefix(head: bytes) -> bool:
    """True if ``head`` is non-empty and the start of a v1 preamble (a file cut inside it)."""
    return any(p.startswith(bytes(head)) for p in _PREAMBLE.values())


class _Source:
    """A forward-only view of a stream that counts its offset and can push bytes back.

    The stream is never asked to seek or tell, and never for more than ``_CHUNK`` bytes at once, so
    that a length field larger than the file fails at end of file without allocating its size.
    """

    def __init__(self, stream: _Readable):
        self._stream = stream
        self._pending = b""  # pushed-back bytes, served before the stream
        self._pos = 0  # how much of _pending has been served
        self.offset = 0  # offset in the file of the next byte read() returns

    def read(self, n: int) -> bytes:
        """Return ``n`` bytes, or fewer only at end of stream."""
        parts = []
        if self._pos < len(self._pending):
            part = self._pending[self._pos : self._pos + n]
            self._pos += len(part)
            parts.append(part)
            n -= len(part)
        while n > 0:
            chunk = self._stream.read(min(n, _CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            n -= len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.offset += len(data)
        return data

    def unread(self, data: bytes) -> None:
        """Push ``data`` back: the next reads return it again."""
        self._pending = data + self._pending[self._pos :]
        self._pos = 0
        self.offset -= len(data)

    def scan(self, patterns: list[bytes]) -> bool:
        """Skip to the next occurrence of any of ``patterns``; False, all bytes consumed, at EOF."""
        keep = max(map(len, patterns)) - 1
        window = b""
        while True:
            chunk = self.read(_CHUNK)
            if not chunk:
                return False
            window = window[-keep:] + chunk if window else chunk
            hits = [i for i in (window.find(p) for p in patterns) if i >= 0]
            if hits:
                self.unread(window[min(hits) :])
                return True


def _take(src: _Source, n: int, raw: list[bytes], what: str) -> bytes:
    """Read exactly ``n`` bytes (kept in ``raw``) or raise a truncation naming ``what``."""
    data = src.read(n)
    raw.append(data)
    if len(data) < n:
        raise _Damage(f"file ends inside the {what} (needs {n} bytes, has {len(data)})", True)
    return data


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Damage(f"invalid UTF-8 in {what} at its byte {exc.start}") from None


def _parse_metadata(block: bytes, order: str) -> dict[str, str]:
    """Decode a metadata block: count, interleaved key/value lengths, then the bytes."""
    (count,) = struct.unpack_from(order + "i", block)
    if count < 0 or count % 4:
        raise _Damage(f"metadata count {count} is not a non-negative multiple of 4")
    nlens = count // 2  # the original wrote 4 x pairs and read count/2 lengths
    if 4 + 4 * nlens > len(block):
        raise _Damage(f"metadata count {count} overruns its {len(block)}-byte block")
    lengths = struct.unpack_from(f"{order}{nlens}i", block, 4)
    if any(n < 0 for n in lengths):
        raise _Damage("negative metadata key or value length")
    pos = 4 + 4 * nlens
    if pos + sum(lengths) != len(block):
        raise _Damage(
            f"metadata block length {len(block)} does not equal its contents' {pos + sum(lengths)}"
        )
    items = []
    for i, n in enumerate(lengths):
        what = f"metadata {'value' if i % 2 else 'key'} {i // 2}"
        items.append(_decode(block[pos : pos + n], what))
        pos += n
    metadata = dict(zip(items[0::2], items[1::2]))
    if len(metadata) != len(items) // 2:
        raise _Damage("duplicate metadata key")
    return metadata


def _parse_payload(block: bytes, order: str) -> str:
    """Decode a payload block: int32 length, then that many bytes."""
    (n,) = struct.unpack_from(order + "i", block)
    if n != len(block) - 4:
        raise _Damage(f"payload length {n} does not match its {len(block)}-byte block")
    return _decode(block[4:], "payload")


def _read_record(
    src: _Source, order: str | None, raw: list[bytes], max_block: int
) -> tuple[str, dict[str, str], str] | None:
    """Read one record: ``(byte order, metadata, payload)``, or None at a clean end of stream.

    ``order`` is the file's byte order once known ("<" or ">"); every byte read goes to ``raw``.
    """
    pre = src.read(6)
    raw.append(pre)
    if not pre:
        return None
    found = next((o for o, p in _PREAMBLE.items() if pre[:4] == p[:4]), None)
    if len(pre) < 6 and any(p.startswith(pre) for p in _PREAMBLE.values()):
        raise _Damage(f"file ends inside the record preamble (has {len(pre)} of 6 bytes)", True)
    if found is None:
        raise _Damage(f"bad magic {pre[:4].hex(' ')}")
    if order is not None and found != order:
        raise _Damage("magic is in the other byte order than the file's first record")
    if pre != _PREAMBLE[found]:  # also when the stream ends after a wrong first version byte
        version = int.from_bytes(pre[4:6], "little" if found == "<" else "big", signed=True)
        raise _Damage(f"unsupported record version {version}")
    meta_len, payload_len, end = struct.unpack(found + "3i", _take(src, 12, raw, "record header"))
    if end != 0:
        raise _Damage(f"non-zero end-of-record marker {end}")
    for what, n in (("metadata", meta_len), ("payload", payload_len)):
        if n < 0:
            raise _Damage(f"negative {what} block length {n}")
        if n > max_block:
            raise _Damage(f"{what} block length {n} exceeds max_block {max_block}")
        if n < 4:
            raise _Damage(f"{what} block length {n} is too short for its length field")
    metadata = _parse_metadata(_take(src, meta_len, raw, "metadata block"), found)
    payload = _parse_payload(_take(src, payload_len, raw, "payload block"), found)
    return found, metadata, payload


def iter_records(
    stream: _Readable,
    path: str,
    *,
    lenient: bool = False,
    report: Report | None = None,
    max_block: int = 256 * 1024 * 1024,
) -> Iterator[tuple[dict[str, str], str]]:
    """Yield ``(metadata, payload)`` for each record of a v1 file read from ``stream``.

    ``stream`` needs only ``read(n)`` (a decompressing stream is fine); ``path`` names it in errors.
    No block larger than ``max_block`` bytes is ever read. Strict mode raises ``TruncatedArchive``
    when the stream ends inside a record and ``CorruptArchive`` for any other damage, both with the
    offset where the bad record starts. Lenient mode instead calls ``report(offset, skipped_bytes,
    reason)`` once per damaged stretch and resumes at the next preamble that starts a valid record.
    """
    src = _Source(stream)
    order: str | None = None
    damage: tuple[int, str] | None = None  # (offset, reason) of the stretch being skipped
    while True:
        start = src.offset
        raw: list[bytes] = []
        try:
            record = _read_record(src, order, raw, max_block)
        except _Damage as exc:
            if not lenient:
                error = TruncatedArchive if exc.truncated else CorruptArchive
                raise error(exc.reason, path=path, offset=start) from None
            if damage is None:
                damage = (start, DamageReason(exc.reason, TRUNCATED if exc.truncated
                                              else CORRUPT))
            src.unread(b"".join(raw)[1:])
            if src.scan([_PREAMBLE[order]] if order else list(_PREAMBLE.values())):
                continue
            record = None
        if damage is not None:
            if report is not None:  # skipped up to this good record, or to end of stream
                end = start if record is not None else src.offset
                report(damage[0], end - damage[0], damage[1])
            damage = None
        if record is None:
            return
        order, metadata, payload = record
        yield metadata, payload
