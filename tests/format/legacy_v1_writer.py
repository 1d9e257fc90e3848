"""A test-only writer of stacktach-shoebox "version 1" records.

The layout is documented in ``shoebox_core.format.v1``.
"""

from __future__ import annotations

import struct

MAGIC = 0x69867884


def pack_v1(metadata: dict[str, str], payload: str, *, big_endian: bool = False) -> bytes:
    """Return one v1 record, with the original writer's count of 4 x pairs in the metadata block."""
    order = ">" if big_endian else "<"
    items = [text.encode("utf-8") for pair in metadata.items() for text in pair]
    meta = struct.pack(f"{order}i{len(items)}i", 4 * len(metadata), *map(len, items))
    meta += b"".join(items)
    body = payload.encode("utf-8")
    block = struct.pack(order + "i", len(body)) + body
    header = struct.pack(order + "ih3i", MAGIC, 1, len(meta), len(block), 0)
    return header + meta + block
