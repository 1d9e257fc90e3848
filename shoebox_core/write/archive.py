"""The active archive: one in-progress file that records are appended to, block by block."""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import socket
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any, BinaryIO, cast

from .._fsutil import fsync_dir, rename_no_clobber
from ..errors import ArchiveError, ConfigError
from ..format import v2 as _v2
from ..write.naming import reserve

__all__ = ["ActiveArchive", "check_block_limits", "largest_block_body", "newest_created"]

log = logging.getLogger("shoebox")

_EMPTY_BLOCK = _v2.BLOCK_HEADER_SIZE + _v2.ARRAY32.size
_IOV_MAX = 1024


def _write_all(fd: int, chunks: list[Any]) -> int:
    """Write every byte of ``chunks`` to ``fd``, ``_IOV_MAX`` pieces per ``writev`` (which may
    write less than asked: the rest follows)."""
    total = 0
    for first in range(0, len(chunks), _IOV_MAX):
        group = chunks[first : first + _IOV_MAX]
        size = sum(map(len, group))
        done = os.writev(fd, group)
        if done < size:
            rest = memoryview(b"".join(group))[done:]
            while rest:
                rest = rest[os.write(fd, rest) :]
        total += size
    return total


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def no_room(exc: OSError, what: str, path: str) -> OSError | ArchiveError:
    """``exc`` as an ArchiveError naming ``path`` when the disk is full (or the file too large,
    or an I/O error); other errors (permissions...) are left as they are."""
    if exc.errno not in _NO_ROOM:
        return exc
    return ArchiveError(f"cannot {what} ({exc.strerror}); nothing was written to it", path=path)


def _zstd_bound(size: int) -> int:
    """The most zstd may make of ``size`` bytes (``ZSTD_COMPRESSBOUND``)."""
    small = (128 * 1024 - size) >> 11 if size < 128 * 1024 else 0
    return size + (size >> 8) + small


def largest_block_body(compression: str) -> int:
    """The most raw bytes (record count prefix and records) one block may hold so that readers
    accept it: neither its raw nor its stored (compressed) length may pass
    :data:`shoebox_core.format.v2.MAX_BLOCK`."""
    if compression != "zstd":
        return _v2.MAX_BLOCK
    size = _v2.MAX_BLOCK - _v2.MAX_BLOCK // 257
    while _zstd_bound(size) > _v2.MAX_BLOCK:
        size -= 1
    return size


def check_block_limits(*, max_record_bytes: int, block_bytes: int, compression: str) -> None:
    """Refuse limits that could make a block readers refuse: a block ends at the record that
    makes it reach ``block_bytes``, so it may hold ``block_bytes - 1`` bytes of records, then one
    of up to ``max_record_bytes``, behind its record count."""
    room = largest_block_body(compression) - _v2.ARRAY32.size - (block_bytes - 1)
    if max_record_bytes > room:
        raise ConfigError(
            f"max_record_bytes={max_record_bytes} is more than a block can hold: readers refuse "
            f"blocks over {_v2.MAX_BLOCK} bytes (format.v2.MAX_BLOCK), so with "
            f"block_bytes={block_bytes} and compression={compression!r} a record may have at "
            f"most {max(room, 0)} bytes; lower max_record_bytes (or block_bytes)"
        )


def newest_created(directory: str, names: list[str]) -> float:
    """The latest creation time (epoch seconds, from the file headers) of the archives ``names``
    in ``directory`` (-inf when none can be read).

    A file's modification time is never before its creation (it was written after it was
    opened; a compressed copy was made later still), so files are read newest-modified first
    and the search stops at the first file modified before the best creation time found."""
    from ..format.compressed import open_decompressed

    stamped = []
    for name in names:
        try:
            stamped.append((os.stat(os.path.join(directory, name)).st_mtime, name))
        except OSError:
            continue
    best = -math.inf
    for mtime, name in sorted(stamped, reverse=True):
        if mtime < best:
            break
        path = os.path.join(directory, name)
        try:
            with open_decompressed(path) as stream:
                header = _v2.read_file_header(cast(BinaryIO, stream), path)
            created_ns = header.fields.get("created_ns")
        except Exception:  # not an archive of ours, damaged, being replaced: nothing to learn
            continue
        if isinstance(created_ns, int):
            best = max(best, created_ns / 1e9)
    return best


class ActiveArchive:
    """An archive file being written under its in-progress name.

    Roll checkers see this object: ``size`` (bytes on disk, counting records not yet flushed),
    ``record_count``, ``filename`` (the final name it will get) and ``get_file_handle().tell()``.
    The writer hands it records already encoded (one msgpack ``[metadata, payload]`` array each)
    through :meth:`take`, which stops at the limits the roll policy set (``stop_bytes``,
    ``stop_records``); they wait in ``parts`` (``buffered`` bytes, ``pending`` records) until a
    block is full (``block_bytes``, ``block_records``), and are then framed, checksummed and
    written with one ``writev``. Not thread-safe on its own: the roll manager locks.
    """

    def __init__(
        self,
        directory: str,
        name: str,
        *,
        created: float,
        seq: int,
        compression: str = "none",
        compression_level: int = 3,
        block_bytes: int = 256 * 1024,
        block_records: int = 4096,
    ) -> None:
        try:
            self.fd, self.path, self.filename = reserve(directory, name)
        except OSError as exc:
            raise no_room(exc, "create a new archive file", os.path.join(directory, name)) from exc
        try:
            # Held until sealed: recovery tells a live writer's file from a dead one by this lock.
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.sync = _v2.new_sync()
            self.codec = _v2.CODECS[compression]
            self._compressor = None
            if self.codec == _v2.CODEC_ZSTD:
                import zstandard

                self._compressor = zstandard.ZstdCompressor(level=compression_level)
            header = _v2.pack_file_header(
                {
                    "sync": self.sync,
                    "created_ns": int(created * 1e9),
                    "seq": seq,
                    "name": os.path.basename(self.filename),
                    "writer": f"{socket.gethostname()}:{os.getpid()}",
                    "codec": compression,
                    "checksum": "crc32c",
                }
            )
            self.written = _write_all(self.fd, [header])
        except BaseException as exc:
            os.close(self.fd)
            os.unlink(self.path)
            if isinstance(exc, OSError):
                raise no_room(exc, "write the header of a new archive file", self.path) from exc
            raise
        self.created = created
        self.seq = seq
        self.record_count = 0
        self.pending = 0
        self.blocks = 0
        self.broken = False  # a write or fsync failed: abandon, never append after a torn block
        self.parts: list[bytes] = []  # the encoded records of the pending block
        self.buffered = 0  # their total length
        self.block_bytes = block_bytes
        self.block_records = block_records
        # Where take() stops: the byte and record limits the roll policy sets once per archive.
        self.stop_bytes: float = math.inf
        self.stop_records: float = math.inf
        # Called by flush_block() first: the writer moves the records it has accepted but not yet
        # handed over (so the timer's periodic flush writes them too).
        self.collect: Callable[[ActiveArchive], None] | None = None

    @property
    def size(self) -> int:
        """Bytes on disk, plus the framed size of the records not yet flushed (exact without
        compression; with zstd, the uncompressed size: the writer flushes before trusting it)."""
        if self.pending:
            return self.written + _EMPTY_BLOCK + self.buffered
        return self.written

    def tell(self) -> int:
        """Same as ``size``: lets ``get_file_handle().tell()`` work as in stacktach-shoebox."""
        return self.size

    def get_file_handle(self) -> ActiveArchive:
        """The seed's way to ask how big the archive is: ``archive.get_file_handle().tell()``."""
        return self

    _get_file_handle = get_file_handle

    def take(self, records: Sequence[bytes], start: int, end: int) -> int:
        """Add encoded ``records[start:end]``, writing each block as it fills, and stop after the
        record that makes the file reach ``stop_bytes`` on disk or ``stop_records`` (the limits
        the roll policy set for this archive; both inclusive).

        Returns the index of the first record not taken. Blocks end exactly where the
        record-by-record rule puts them: at the record that makes them reach ``block_bytes`` or
        ``block_records``. Whether a roll is due is the policy's decision, not the archive's.
        """
        stop_bytes, stop_records = self.stop_bytes, self.stop_records
        block_bytes, block_records = self.block_bytes, self.block_records
        i = start
        while i < end:
            # Records that can be added before the block or the file is full by count...
            most = min(end - i, block_records - self.pending, stop_records - self.record_count)
            chunk = records[i : i + max(1, int(most))]
            # ...and by bytes: the first record whose end reaches either limit is the last one.
            totals = list(accumulate(map(len, chunk)))
            limit = min(block_bytes - self.buffered,
                        stop_bytes - (self.written + _EMPTY_BLOCK + self.buffered))
            count = min(bisect_left(totals, limit) + 1, len(chunk))
            self.parts.extend(chunk[:count] if count < len(chunk) else chunk)
            self.buffered += totals[count - 1]
            self.pending += count
            self.record_count += count
            i += count
            if (self.written + _EMPTY_BLOCK + self.buffered >= stop_bytes
                    or self.record_count >= stop_records):
                return i
            if self.buffered >= block_bytes or self.pending >= block_records:
                self.write_block()
        return i

    def settled_size(self) -> int:
        """Bytes on disk once the pending records are written. Without compression that is
        ``size``; with it, the pending block is written first, since ``size`` counts its records
        uncompressed."""
        if self.codec and self.pending:
            self.write_block()
        return self.size

    def flush_block(self) -> None:
        """Write the pending block (no fsync), with whatever the writer still holds for it."""
        if self.collect is not None:
            self.collect(self)
        self.write_block()

    def write_block(self) -> None:
        """Frame the pending records as one block and write it to the file (no fsync)."""
        if not self.pending:
            return
        prefix = _v2.ARRAY32.pack(0xDD, self.pending)
        if self._compressor is not None:
            # The records are joined once, behind their prefix: the compressor reads one buffer.
            raw = b"".join([prefix, *self.parts])
            body: Any = self._compressor.compress(raw)
            head = _v2.encode_block_header(
                self.sync, _v2.KIND_RECORDS, self.pending, body, len(raw), self.codec
            )
            chunks = [head, body]
        else:
            # Joined: one copy costs no more than handing the kernel a piece per record, even
            # for 3 KB records (measured), and the checksum is one call.
            view = b"".join(self.parts)
            raw_len = len(prefix) + len(view)
            crc = _v2.crc32c(view, _v2.crc32c(prefix))
            head = _v2.pack_block_header(
                self.sync, kind=_v2.KIND_RECORDS, count=self.pending, stored=raw_len,
                raw_len=raw_len, codec=_v2.CODEC_NONE, body_crc=crc,
            )
            chunks = [head, prefix, view]
        self._io("append a block to", _write_all, self.fd, chunks)
        self.parts = []
        self.buffered = 0
        self.pending = 0
        self.blocks += 1

    def _io(self, what: str, call: Any, *args: Any) -> None:
        """Run a write or fsync; a failure (disk full, file too large, I/O error) breaks this
        archive: the caller abandons it, and recovery seals what it holds up to its last good
        block."""
        try:
            result = call(*args)
        except OSError as exc:
            self.broken = True
            raise ArchiveError(
                f"cannot {what} the archive ({exc.strerror or exc}); the records before this "
                f"byte are safe and recovery seals them; the {self.pending} record(s) of the "
                "block being written were not stored",
                path=self.path,
                offset=self.written,
            ) from exc
        if call is _write_all:
            self.written += result

    def flush(self) -> None:
        """Write the pending block and make everything written so far durable (fsync)."""
        self.flush_block()
        self._io("fsync", os.fsync, self.fd)

    def seal(self, sealed: float) -> str:
        """Write the last block and the end marker, fsync, and rename to the final name.

        Returns the final path (a collision name if another process took the intended one).
        """
        self.write_block()
        end = _v2.encode_end_block(
            self.sync, self.record_count, {"sealed_ns": int(sealed * 1e9), "blocks": self.blocks}
        )
        self._io("append the end marker to", _write_all, self.fd, [end])
        self._io("fsync", os.fsync, self.fd)
        if not os.path.exists(self.path):
            self._salvage()
        # Rename while still holding the lock, so recovery never races us for this file.
        final = rename_no_clobber(self.path, self.filename)
        os.close(self.fd)
        self.fd = -1
        fsync_dir(os.path.dirname(final))
        self.path = self.filename = final
        self.collect = None
        return final

    def _salvage(self) -> None:
        """The in-progress file was removed under us (its directory deleted by hand): copy what
        the open descriptor still holds into a new in-progress file, recreating the directory."""
        directory = os.path.dirname(self.path)
        fd, temp, final = reserve(directory, os.path.basename(self.filename))
        try:
            size = os.fstat(self.fd).st_size
            offset = 0
            while offset < size:
                sent = os.sendfile(fd, self.fd, offset, size - offset)
                if not sent:
                    raise ArchiveError("the open archive shrank while it was saved", path=temp)
                offset += sent
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temp)
            raise
        log.warning("shoebox: %s was removed while being written; saved it again as %s",
                    self.path, temp)
        os.close(self.fd)
        self.fd, self.path, self.filename = fd, temp, final

    def abandon(self) -> None:
        """Close without sealing (the file stays in progress, for recovery)."""
        self.collect = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"ActiveArchive({self.path!r}, records={self.record_count}, size={self.size})"
