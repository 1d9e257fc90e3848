"""One archive file of an archive store: writing it block by block, sealing it with its index,
and reading its index back (or rebuilding it by scanning its blocks).

A file is a shoebox format-2 archive (``docs/FORMAT.md`` of shoebox-core): RECORDS blocks of
uncompressed records, so a record is found again by its byte offset and length alone; before the
END block, a block of kind ``INDEX`` (skipped by shoebox's own readers) holds the final state of
every key the file changed; the END block's ``index`` field gives that block's offset.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import zstandard

from . import _core

__all__ = ["KIND_INDEX", "Segment", "read_index", "scan"]

KIND_INDEX = 0x49  # "I": an unknown kind to shoebox's readers, which skip it
SUFFIX = ".sbx"
INPROGRESS = ".sbx.inprogress"
_TAIL = 64 * 1024

#: An index entry: (metadata JSON or None for a tombstone, created ns, modified ns, size,
#: file seq, ((offset, length, crc, nbytes), ...)).
Entry = tuple


def name_of(seq: int, *, sealed: bool = True) -> str:
    """The file name of the archive with sequence number ``seq``."""
    return f"{seq:010d}{SUFFIX if sealed else INPROGRESS}"


def fsync_dir(directory: str) -> None:
    """Make a creation or rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, chunks: list[Any]) -> int:
    if len(chunks) > 1000:  # writev takes at most IOV_MAX (1024) buffers
        chunks = [b"".join(chunks)]
    total = sum(len(c) for c in chunks)
    done = os.writev(fd, chunks)
    if done < total:
        flat = b"".join(bytes(c) for c in chunks)
        while done < total:
            done += os.write(fd, flat[done:])
    return total


class Segment:
    """The archive file being written, under its in-progress name until :meth:`seal`.

    ``entries`` is the state this file gives each key it changed (``None``: deleted); it becomes
    the file's index block.
    """

    def __init__(self, directory: str, seq: int, *, block_bytes: int) -> None:
        self.directory = directory
        self.seq = seq
        self.path = os.path.join(directory, name_of(seq, sealed=False))
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self.sync = _core.new_sync()
        header = _core.pack_file_header({
            "sync": self.sync, "created_ns": time.time_ns(), "seq": seq,
            "name": name_of(seq), "writer": f"shoebox-store:{os.getpid()}", "codec": "none",
            "checksum": "crc32c",
        })
        self.written = _write_all(self.fd, [header])
        self.block_bytes = block_bytes
        self.parts: list[bytes] = []
        self.buffered = 0
        self.blocks = 0
        self.records = 0
        self.entries: dict[str, Entry | None] = {}
        self.synced_dir = False

    @property
    def size(self) -> int:
        """Bytes in the file, counting the records not yet written."""
        return self.written + self.buffered

    def append(self, record: bytes) -> int:
        """Add one encoded record; return its byte offset in the file."""
        if self.buffered and self.buffered + len(record) > self.block_bytes:
            self.write_block()
        offset = self.written + _core.BLOCK_HEADER_SIZE + _core.ARRAY32.size + self.buffered
        self.parts.append(record)
        self.buffered += len(record)
        if self.buffered >= self.block_bytes:
            self.write_block()
        return offset

    def unwritten(self, offset: int) -> bool:
        """Whether the record at ``offset`` is still in memory."""
        return offset >= self.written

    def write_block(self) -> None:
        """Write the buffered records as one RECORDS block (no fsync)."""
        if not self.parts:
            return
        prefix = _core.ARRAY32.pack(0xDD, len(self.parts))
        crc = _core.crc32c(prefix)
        for part in self.parts:
            crc = _core.crc32c(part, crc)
        raw_len = len(prefix) + self.buffered
        head = _core.pack_block_header(self.sync, kind=_core.KIND_RECORDS, count=len(self.parts),
                                       stored=raw_len, raw_len=raw_len, codec=_core.CODEC_NONE,
                                       body_crc=crc)
        self.written += _write_all(self.fd, [head, prefix, *self.parts])
        self.records += len(self.parts)
        self.blocks += 1
        self.parts = []
        self.buffered = 0

    def flush(self) -> None:
        """Write the buffered records and make the file durable."""
        self.write_block()
        os.fsync(self.fd)
        if not self.synced_dir:
            fsync_dir(self.directory)
            self.synced_dir = True

    def seal(self) -> str:
        """Write the index and END blocks, fsync, and give the file its final name (never
        replacing a file). Returns the final path."""
        self.write_block()
        index_at = self.written
        packed = msgpack.packb([[key, *(entry or (None,))] for key, entry in
                                self.entries.items()], use_bin_type=True)

        body = zstandard.ZstdCompressor(level=1).compress(packed)
        head = _core.encode_block_header(self.sync, KIND_INDEX, len(self.entries), body,
                                         len(packed), _core.CODEC_ZSTD)
        self.written += _write_all(self.fd, [head, body])
        end = _core.encode_end_block(self.sync, self.records, {
            "sealed_ns": time.time_ns(), "blocks": self.blocks, "index": index_at})
        self.written += _write_all(self.fd, [end])
        os.fsync(self.fd)
        final = os.path.join(self.directory, name_of(self.seq))
        os.link(self.path, final)  # fails if the name is taken: nothing is ever replaced
        os.unlink(self.path)
        fsync_dir(self.directory)
        os.close(self.fd)
        self.fd = -1
        self.path = final
        return final

    def abandon(self) -> None:
        """Close without sealing (the file stays in progress; the next writer seals it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _entry_of(row: list[Any]) -> tuple[str, Entry | None]:
    key = row[0]
    if len(row) == 2:
        return key, None
    meta, created, modified, size, seq, locs = row[1:]
    return key, (meta, created, modified, size, seq, tuple(tuple(loc) for loc in locs))


def _block_at(read: Any, offset: int, sync: bytes, size: int) -> tuple[tuple, bytes] | None:
    """The checked header fields and stored body of the block at ``offset``, or None."""
    if offset < 0 or offset + _core.BLOCK_HEADER_SIZE > size:
        return None
    try:
        header = _core.parse_block_header(read(_core.BLOCK_HEADER_SIZE, offset), 0, sync)
    except ValueError:
        return None
    if offset + _core.BLOCK_HEADER_SIZE + header.stored > size:
        return None
    body = read(header.stored, offset + _core.BLOCK_HEADER_SIZE)
    if _core.crc32c(body) != header.body_crc:
        return None
    return header, body


def read_index(path: str) -> dict[str, Entry | None] | None:
    """The index of the sealed archive ``path``, from its last blocks only; ``None`` when it is
    missing or damaged (then :func:`scan` rebuilds it)."""
    try:
        with open(path, "rb") as f:
            fields, _ = _core.read_file_header(f, path)
            fd = f.fileno()
            size = os.fstat(fd).st_size
            sync = fields["sync"]
            tail_at = max(0, size - _TAIL)
            tail = os.pread(fd, size - tail_at, tail_at)
            read = lambda n, at: os.pread(fd, n, at)  # noqa: E731
            p = tail.rfind(sync)
            while p >= 0:
                found = _block_at(read, tail_at + p, sync, size)
                if found and found[0][4] == _core.KIND_END and (
                        tail_at + p + _core.BLOCK_HEADER_SIZE + found[0][1] == size):
                    end = msgpack.unpackb(found[1], raw=False)
                    index = _block_at(read, end["index"], sync, size)
                    if index is None or index[0][4] != KIND_INDEX:
                        return None

                    raw = zstandard.ZstdDecompressor().decompress(index[1], max_output_size=
                                                                  index[0][2])
                    return dict(_entry_of(row) for row in msgpack.unpackb(raw, raw=False))
                p = tail.rfind(sync, 0, p)
    except Exception:  # any damage or surprise: the caller rebuilds the index by scanning
        return None
    return None


def scan(path: str) -> tuple[Iterator[tuple[dict[str, str], int, int, int, int]], list[int]]:
    """Read every good RECORDS block of ``path``.

    Returns an iterator of ``(record metadata, payload length, offset, length, crc)`` and a
    list that, once the iterator is exhausted, holds ``[end of the last good block, bytes of
    damage skipped, sealed (0/1), good records, good RECORDS blocks]``.
    """
    facts = [0, 0, 0, 0, 0]
    return _scan(path, facts), facts


def _scan(path: str, facts: list[int]) -> Iterator[tuple[dict[str, str], int, int, int, int]]:
    with open(path, "rb") as f:
        fields, offset = _core.read_file_header(f, path)
        facts[0] = offset
        sync = fields["sync"]
        size = os.fstat(f.fileno()).st_size
        if size <= offset:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            read = lambda n, at: mm[at:at + n]  # noqa: E731
            while offset + _core.BLOCK_HEADER_SIZE <= size:
                found = _block_at(read, offset, sync, size)
                kind = found[0][4] if found else None
                if found is None or (kind == _core.KIND_RECORDS and found[0][5] != 0):
                    following = mm.find(sync, offset + 1)
                    skip_to = size if following < 0 else following
                    facts[1] += skip_to - offset
                    offset = skip_to
                    continue
                body_at = offset + _core.BLOCK_HEADER_SIZE
                stored = found[0][1]
                if kind == _core.KIND_RECORDS:
                    try:
                        records = _records_of(found[1], body_at)
                    except Exception:  # checksummed but not records: not ours, skip it
                        facts[1] += _core.BLOCK_HEADER_SIZE + stored
                        records = []
                    else:
                        facts[3] += len(records)
                        facts[4] += 1
                    yield from records
                offset = body_at + stored
                facts[0] = offset
                if kind == _core.KIND_END:
                    facts[2] = 1
                    return


def _records_of(body: bytes, body_at: int) -> list[tuple[dict[str, str], int, int, int, int]]:
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(body) + 1)
    unpacker.feed(body)
    found = []
    for _ in range(unpacker.read_array_header()):
        start = unpacker.tell()
        meta, payload = unpacker.unpack()
        if not isinstance(meta, dict):
            raise ValueError("record metadata is not a map")
        length = unpacker.tell() - start
        found.append((meta, len(payload), body_at + start, length,
                      _core.crc32c(body[start:start + length])))
    return found


def seal_copy(path: str, seq: int, entries: dict[str, Entry | None], facts: list[int]) -> str:
    """Seal the in-progress archive ``path`` its writer left (killed, or never closed): copy its
    good blocks to a new file, add the index and END blocks, give that the final name, and only
    then remove ``path``. A crash at any step leaves ``path`` as it was (the copy's temporary
    name is this function's own, taken over on the next attempt). Returns the final path."""
    directory = os.path.dirname(path)
    final = os.path.join(directory, name_of(seq))
    temp = final + ".sealing"
    good_end, _, sealed, records, blocks = facts
    with open(path, "rb") as source:
        fields, _ = _core.read_file_header(source, path)
        if os.path.exists(temp):
            os.unlink(temp)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            copied = 0
            while copied < good_end:
                sent = os.sendfile(fd, source.fileno(), copied, good_end - copied)
                if not sent:
                    raise OSError(f"{path} shrank while it was being sealed")
                copied += sent
            if not sealed:
                sync = fields["sync"]
                packed = msgpack.packb([[key, *(entry or (None,))] for key, entry in
                                        entries.items()], use_bin_type=True)
                body = zstandard.ZstdCompressor(level=1).compress(packed)
                head = _core.encode_block_header(sync, KIND_INDEX, len(entries), body,
                                                 len(packed), _core.CODEC_ZSTD)
                end = _core.encode_end_block(sync, records, {
                    "sealed_ns": time.time_ns(), "blocks": blocks, "index": good_end,
                    "recovered": True})
                _write_all(fd, [head, body, end])
            os.fsync(fd)
        finally:
            os.close(fd)
    os.link(temp, final)
    fsync_dir(directory)
    os.unlink(path)
    os.unlink(temp)
    fsync_dir(directory)
    return final
