"""Fixtures of the core's tests: those plugin authors get from ``shoebox_core.testing`` (a fake
clock, a recording callback, the sample data, a fresh plugin manager, a hook recorder), the S3 and
Swift servers of ``shoebox_core.testing.servers``, and archive helpers of our own."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest

from shoebox_core.format import v2 as _v2

# The same fixtures as plugin authors use: one fake clock, one recording callback.
pytest_plugins = ["shoebox_core.testing", "shoebox_core.testing.servers"]


# The framing as docs/FORMAT.md lays it out, written here again on purpose: archive_layout is the
# tests' independent oracle of what the writer put on disk, so it shares no code with the format
# API (shoebox_core.format's pack/parse pairs) it checks.
_FIXED_FILE_HEADER = struct.Struct("<8sHHI")  # magic, version, flags, fields_len
_BLOCK_HEADER = struct.Struct("<16sIIIBBHI")  # sync, stored, raw, count, kind, codec, flags, crc
_HEADER_CRC = 4


def archive_layout(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Walk the blocks of a sealed, uncompressed v2 archive (independently of the format API).

    Returns one dict per block: ``offset``, ``end``, ``kind``, ``count``, ``codec`` and, for
    uncompressed record blocks, ``records`` (the raw msgpack-decoded records).
    """
    data = Path(path).read_bytes()
    fixed = _FIXED_FILE_HEADER.unpack_from(data)
    offset = _FIXED_FILE_HEADER.size + fixed[3] + _HEADER_CRC
    blocks = []
    while offset < len(data):
        sync, stored, raw_len, count, kind, codec, flags, crc = _BLOCK_HEADER.unpack_from(
            data, offset
        )
        body_start = offset + _BLOCK_HEADER.size + _HEADER_CRC
        body = data[body_start : body_start + stored]
        block = {"offset": offset, "end": body_start + stored, "kind": kind, "count": count,
                 "codec": codec}
        if kind == _v2.KIND_RECORDS and codec == _v2.CODEC_NONE:
            block["records"] = msgpack.unpackb(body, raw=False, use_list=False)
        blocks.append(block)
        offset = body_start + stored
    return blocks


def written_archive(path: Path, records: list[tuple[dict[str, str], str]],
                    block_records: int = 10) -> Path:
    """A sealed archive at ``path`` holding ``records`` in blocks of ``block_records``."""
    from shoebox_core.write.manager import WritingRollManager

    with WritingRollManager(path.name, None, str(path.parent), block_records=block_records,
                            flush_interval=None, background=False) as writer:
        writer.write_many(records)
    return path


def packed_size(record: tuple[Any, Any]) -> int:
    """Bytes one ``(metadata, payload)`` record takes inside a block body."""
    return len(msgpack.packb(tuple(record), use_bin_type=True))


@pytest.fixture
def layout():
    """``archive_layout`` as a fixture (see its docstring)."""
    return archive_layout


@pytest.fixture
def record_size():
    """``packed_size`` as a fixture."""
    return packed_size
