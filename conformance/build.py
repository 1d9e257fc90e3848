"""The byte builders of ``generate.py``: v2 framing, hand-made zstd frames and gzip members,
v1 records, and the manifest writer. Built from docs/FORMAT.md alone: no shoebox code."""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Any

import crc32c
import msgpack

MAGIC = b"\x89SBX\r\n\x1a\n"
SYNC = bytes.fromhex("5e1f0c3a9b274d6e81f2a4c7d0e3b596")
CREATED = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
SEALED = CREATED + 60_000_000_000
GIB = 1 << 30


def crc(data: bytes) -> bytes:
    return crc32c.crc32c(data).to_bytes(4, "little")


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def raw_map(*pairs: tuple[bytes, bytes]) -> bytes:
    """A msgpack map from already packed keys and values (duplicates allowed)."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def raw_str(data: bytes) -> bytes:
    """A msgpack str of arbitrary bytes (invalid UTF-8 allowed)."""
    assert len(data) < 32
    return bytes([0xA0 | len(data)]) + data


EXT = b"\xd4\x01\x00"  # fixext 1, type 1


# -- v2 framing ----------------------------------------------------------------------------------
def file_header(fields: dict[str, Any] | None = None, *, raw: bytes | None = None,
                version: int = 2, flags: int = 0, length: int | None = None) -> bytes:
    if raw is None:
        raw = pack(fields if fields is not None else base_fields())
    head = MAGIC + struct.pack("<HHI", version, flags, len(raw) if length is None else length)
    head += raw
    return head + crc(head)


def base_fields(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"sync": SYNC, "created_ns": CREATED, "seq": 0,
                              "name": "events_0000.events", "writer": "conformance:1",
                              "codec": "none", "checksum": "crc32c"}
    fields.update(extra)
    return {k: v for k, v in fields.items() if v is not None}


def block(kind: int, count: int, body: bytes, *, codec: int = 0, raw_len: int | None = None,
          flags: int = 0, stored: int | None = None, sync: bytes = SYNC,
          body_crc: bytes | None = None) -> bytes:
    head = struct.pack("<16sIIIBBH", sync, len(body) if stored is None else stored,
                       len(body) if raw_len is None else raw_len, count, kind, codec, flags)
    head += body_crc if body_crc is not None else crc(body)
    return head + crc(head) + body


def records_body(records: list[Any], form: str = "array32") -> bytes:
    n = len(records)
    prefix = {"array32": struct.pack(">BI", 0xDD, n), "array16": struct.pack(">BH", 0xDC, n),
              "fixarray": bytes([0x90 | n])}[form]
    return prefix + b"".join(r if isinstance(r, bytes) else pack(r) for r in records)


def records_block(records: list[Any], **kw: Any) -> bytes:
    count = kw.pop("count", len(records))
    return block(1, count, records_body(records, kw.pop("form", "array32")), **kw)


def end_block(count: int, blocks: int, fields: dict[str, Any] | None = None, *,
              body: bytes | None = None, **kw: Any) -> bytes:
    if body is None:
        body = pack(fields if fields is not None else {"sealed_ns": SEALED, "blocks": blocks})
    return block(2, count, body, **kw)


# -- hand-made zstd frames (RFC 8878: raw and RLE blocks, no checksum) ---------------------------
def zstd_frame(data: bytes, *, content_size: int | None | str = "exact", rle: int = 0) -> bytes:
    """One frame of raw blocks holding ``data`` (then ``rle`` bytes of an RLE block of "x").

    ``content_size``: "exact" (the true size), an int (declared whatever the content), or None
    (not in the frame header: a window descriptor instead)."""
    size = len(data) + rle
    declared = size if content_size == "exact" else content_size
    if declared is None:
        out = b"\x28\xb5\x2f\xfd" + bytes([0x00, 0x58])  # no FCS, window 2^21
    else:
        assert isinstance(declared, int)
        out = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", declared)  # single seg.
    parts: list[tuple[int, bytes, int]] = []  # (type, content, regenerated size)
    for i in range(0, len(data), 1 << 17):
        chunk = data[i : i + (1 << 17)]
        parts.append((0, chunk, len(chunk)))
    left = rle
    while left:
        n = min(left, 1 << 17)
        parts.append((1, b"x", n))
        left -= n
    if not parts:
        parts.append((0, b"", 0))
    for i, (kind, content, n) in enumerate(parts):
        last = i == len(parts) - 1
        out += (int(last) | kind << 1 | n << 3).to_bytes(3, "little") + content
    return out


def gzip_member(data: bytes, *, bad_crc: bool = False) -> bytes:
    """One gzip member (RFC 1952) of stored deflate blocks, mtime 0."""
    out = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    chunks = [data[i : i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, chunk in enumerate(chunks):
        final = int(i == len(chunks) - 1)
        out += bytes([final]) + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk
    check = zlib.crc32(data) ^ (1 if bad_crc else 0)
    return out + struct.pack("<II", check, len(data) & 0xFFFFFFFF)


# -- v1 ----------------------------------------------------------------------------------------
def v1_record(metadata: dict[str, str], payload: str, order: str = "<", *, end: int = 0,
              raw_payload: bytes | None = None) -> bytes:
    items = [s.encode() for kv in metadata.items() for s in kv]
    meta = struct.pack(order + "i", 4 * len(metadata))
    meta += struct.pack(f"{order}{len(items)}i", *map(len, items)) + b"".join(items)
    body = raw_payload if raw_payload is not None else payload.encode()
    pay = struct.pack(order + "i", len(body)) + body
    return (struct.pack(order + "ihiii", 0x69867884, 1, len(meta), len(pay), end) + meta + pay)


def expect_record(record: tuple[dict[str, str], str | bytes]) -> list[Any]:
    metadata, payload = record
    if isinstance(payload, bytes):
        return [metadata, {"bin": payload.hex()}]
    return [metadata, {"str": payload}]


class Vectors:
    """Collects vectors and writes them with the manifest."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}

    def add(self, name: str, data: bytes, about: str, *, questions: list[str],
            records: list[Any] | None = None, error: tuple[str, int | None] | None = None,
            lenient: tuple[list[Any] | None, list[tuple[int | None, int | None]]] | None = None,
            in_progress: list[Any] | tuple[str, int | None] | None = None) -> None:
        assert name not in self.files and (records is None) != (error is None)
        entry: dict[str, Any] = {"file": name, "about": about, "questions": questions}
        if records is not None:
            entry["strict"] = {"records": [expect_record(r) for r in records]}
            lenient = lenient or (records, [])
        else:
            assert error is not None and lenient is not None
            entry["strict"] = {"error": error[0], "offset": error[1]}
        assert lenient is not None
        entry["lenient"] = {"records": None if lenient[0] is None else
                            [expect_record(r) for r in lenient[0]],
                            "damage": [list(d) for d in lenient[1]]}
        if in_progress is not None:
            if isinstance(in_progress, tuple):
                entry["in_progress"] = {"error": in_progress[0], "offset": in_progress[1]}
            else:
                entry["in_progress"] = {"records": [expect_record(r) for r in in_progress]}
        self.entries.append(entry)
        self.files[name] = data

    def write(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        for old in os.listdir(directory):
            os.unlink(os.path.join(directory, old))
        for name, data in self.files.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
        manifest = {"format": "shoebox conformance vectors", "version": 1,
                    "vectors": self.entries}
        with open(os.path.join(directory, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=True)
            f.write("\n")


