"""The archive format: bytes in, records out, and nothing else.

- :mod:`.v2`: the current format's framing (file header, block headers, sync marker, END
  block); the one pair of functions that pack and parse each header lives here;
- :mod:`.blocks`: reading v2 blocks back, every checksum checked;
- :mod:`.detect`: what an open file holds, told once from its first bytes;
- :mod:`.v1`: stacktach-shoebox's version-1 records, read only;
- :mod:`.compressed`: recognising and decompressing ``.gz`` / ``.zst`` archives while reading;
- :mod:`.digests`: CRC-32C and MD5 digests of whole files.

``docs/FORMAT.md`` is the specification. May import only :mod:`shoebox_core.errors` (and the
lazy-export helper :mod:`shoebox_core._lazy`) and third-party libraries: no file naming, no
writer, no plugin.

The format API
--------------
What code building on archives uses (a Dask plugin splitting files at sync markers, a reader
following a growing file); everything is importable from ``shoebox_core.format``.

Records of any archive (v2 or v1, whole-file gzip / zstd or not) from a file already open, read
forward once (a pipe or a remote file is fine)::

    from shoebox_core.format import read_records

    with open("events_0001.events", "rb") as f:
        for metadata, payload in read_records(f, "events_0001.events"):
            ...

:func:`open_stream` does the same in two steps: it tells the kind (``"v2"``, ``"v1"``,
``"unknown"``; an empty file is truncated), the whole-file compression and the v2
:class:`FileHeader` from the first bytes, and its :meth:`ArchiveStream.batches` goes on from
there, a block at a time. ``in_progress=True`` reads a file still being written up to its last
complete block, quietly.

``conformance/vectors/`` (written by ``conformance/generate.py``) are the reference files every
reader, this one included, must read as their manifest says.

The framing: one pack / parse pair for each header. :func:`pack_file_header` /
:func:`parse_file_header` (:func:`read_file_header` reads it from a stream) give a
:class:`FileHeader` (``fields``, ``length``; ``sync``, ``created_ns``, ``seq``);
:func:`pack_block_header` / :func:`parse_block_header` the :class:`BlockHeader` of
:data:`BLOCK_HEADER_SIZE` bytes in front of each block body (``parse_block_header`` raises
``ValueError`` naming what is wrong). :func:`find_sync` finds the next good block header in a
buffer.

Splitting an uncompressed v2 file into byte ranges read apart (as Avro containers are split):
each range reads from the first good block that starts in it up to the first block starting in
the next, so every block is read exactly once::

    from shoebox_core.format import BLOCK_HEADER_SIZE, find_sync, iter_records, read_file_header

    def read_range(f, path, begin, end):
        f.seek(0)
        header = read_file_header(f, path)
        begin = max(begin, header.length)
        f.seek(begin)
        at = find_sync(f.read(end - begin + BLOCK_HEADER_SIZE), header.sync)
        if at < 0 or begin + at >= end:
            return  # no block starts in this range
        f.seek(begin + at)
        yield from iter_records(f, path, header=header, start=begin + at, stop=end)

Errors are :class:`~shoebox_core.errors.CorruptArchive` (and its
:class:`~shoebox_core.errors.TruncatedArchive`), carrying the path and the byte offset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the real types for type checkers; at run time names resolve on first use
    from .blocks import iter_blocks, iter_records
    from .detect import ArchiveStream, open_stream, read_records
    from .v2 import (
        BLOCK_HEADER_SIZE,
        CODEC_NONE,
        CODEC_ZSTD,
        KIND_END,
        KIND_RECORDS,
        MAGIC,
        BlockHeader,
        FileHeader,
        find_sync,
        pack_block_header,
        pack_file_header,
        parse_block_header,
        parse_file_header,
        read_file_header,
    )

__all__ = [
    "BLOCK_HEADER_SIZE",
    "CODEC_NONE",
    "CODEC_ZSTD",
    "KIND_END",
    "KIND_RECORDS",
    "MAGIC",
    "ArchiveStream",
    "BlockHeader",
    "FileHeader",
    "find_sync",
    "iter_blocks",
    "iter_records",
    "open_stream",
    "pack_block_header",
    "pack_file_header",
    "parse_block_header",
    "parse_file_header",
    "read_file_header",
    "read_records",
]

_HOMES = {
    ".v2": ("BLOCK_HEADER_SIZE", "CODEC_NONE", "CODEC_ZSTD", "KIND_END", "KIND_RECORDS", "MAGIC",
            "BlockHeader", "FileHeader", "find_sync", "pack_block_header", "pack_file_header",
            "parse_block_header", "parse_file_header", "read_file_header"),
    ".blocks": ("iter_blocks", "iter_records"),
    ".detect": ("ArchiveStream", "open_stream", "read_records"),
}
# Resolved on first use: importing a submodule (``format.v2``) does not import the others.
__getattr__ = lazy_exports(__name__, {name: (module, name) for module, names in _HOMES.items()
                                      for name in names})


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
