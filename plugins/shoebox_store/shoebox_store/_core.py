"""Every low-level name this package takes from shoebox-core's archive format, in one place.

The archive store writes and reads shoebox format-2 files itself (it needs each record's byte
offset, and an index block the core's writer does not make). Only this module imports the
core's format module (:mod:`shoebox_core.format.v2`), so a change there touches only these lines.
"""

from __future__ import annotations

from shoebox_core.format.v2 import (
    ARRAY32,
    BLOCK_HEADER_SIZE,
    CODEC_NONE,
    CODEC_ZSTD,
    KIND_END,
    KIND_RECORDS,
    MAX_BLOCK,
    crc32c,
    encode_block_header,
    encode_end_block,
    new_sync,
    pack_block_header,
    pack_file_header,
    parse_block_header,
    read_file_header,
)

__all__ = [
    "ARRAY32",
    "BLOCK_HEADER_SIZE",
    "CODEC_NONE",
    "CODEC_ZSTD",
    "KIND_END",
    "KIND_RECORDS",
    "MAX_BLOCK",
    "crc32c",
    "encode_block_header",
    "encode_end_block",
    "new_sync",
    "pack_block_header",
    "pack_file_header",
    "parse_block_header",
    "read_file_header",
]
