"""The active archive: one in-progress file that records are appended to, block by block."""

from __future__ import annotations

import os
import socket
from typing import Any

import msgpack

from . import _v2
from ._fsutil import fsync_dir, rename_no_clobber
from .naming import reserve

__all__ = ["ActiveArchive"]

_EMPTY_BLOCK = _v2.BLOCK_HEADER_SIZE + _v2.ARRAY32.size


def _write_all(fd: int, chunks: list[Any]) -> int:
    """Write every byte of ``chunks`` to ``fd`` (``writev`` may write less than asked)."""
    total = sum(len(c) for c in chunks)
    done = os.writev(fd, chunks)
    while done < total:
        flat = b"".join(bytes(c) for c in chunks)
        done += os.write(fd, flat[done:])
    return total


class ActiveArchive:
    """An archive file being written under its in-progress name.

    Roll checkers see this object: ``size`` (bytes on disk, counting records not yet flushed),
    ``record_count``, ``filename`` (the final name it will get) and ``get_file_handle().tell()``.
    Records are packed one by one (``packer.pack`` returns each record's bytes, kept in ``parts``,
    ``buffered`` bytes in all); a block is framed and written when it is full, on ``flush()`` and
    at ``seal()``. Not thread-safe on its own: the roll manager locks.

    Each record is encoded on its own, so a record the encoder refuses (a str with a lone
    surrogate, say) leaves the records already accepted untouched: msgpack's ``Packer`` empties
    its whole internal buffer when ``pack`` raises.
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
    ) -> None:
        self.fd, self.path, self.filename = reserve(directory, name)
        try:
            # reserve() returned the file locked; the lock is held until the file is sealed.
            self.sync = _v2.new_sync()
            self.codec = _v2.CODECS[compression]
            self._compressor = None
            if self.codec == _v2.CODEC_ZSTD:
                import zstandard

                self._compressor = zstandard.ZstdCompressor(level=compression_level)
            header = _v2.encode_file_header(
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
        except BaseException:
            os.close(self.fd)
            os.unlink(self.path)
            raise
        self.created = created
        self.seq = seq
        self.record_count = 0
        self.pending = 0
        self.blocks = 0
        self.packer = msgpack.Packer(use_bin_type=True)
        self.parts: list[bytes] = []  # the encoded records of the pending block
        self.buffered = 0  # their total length

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

    def flush_block(self) -> None:
        """Frame the pending records as one block and write it to the file (no fsync)."""
        if not self.pending:
            return
        prefix = _v2.ARRAY32.pack(0xDD, self.pending)
        view = b"".join(self.parts)
        if self._compressor is not None:
            raw = prefix + view
            body: Any = self._compressor.compress(raw)
            head = _v2.encode_block_header(
                self.sync, _v2.KIND_RECORDS, self.pending, body, len(raw), self.codec
            )
            chunks = [head, body]
        else:
            crc = _v2.crc32c(view, _v2.crc32c(prefix))
            raw_len = len(prefix) + len(view)
            head = _v2.BLOCK_HEADER.pack(
                self.sync, raw_len, raw_len, self.pending, _v2.KIND_RECORDS, 0, 0, crc
            )
            head += _v2.crc32c(head).to_bytes(4, "little")
            chunks = [head, prefix, view]
        self.written += _write_all(self.fd, chunks)
        self.parts = []
        self.buffered = 0
        self.pending = 0
        self.blocks += 1

    def flush(self) -> None:
        """Write the pending block and make everything written so far durable (fsync)."""
        self.flush_block()
        os.fsync(self.fd)

    def seal(self, sealed: float) -> str:
        """Write the last block and the end marker, fsync, and rename to the final name.

        Returns the final path (a collision name if another process took the intended one).
        """
        self.flush_block()
        end = _v2.encode_end_block(
            self.sync, self.record_count, {"sealed_ns": int(sealed * 1e9), "blocks": self.blocks}
        )
        self.written += _write_all(self.fd, [end])
        os.fsync(self.fd)
        # Rename while still holding the lock, so recovery never races us for this file.
        final = rename_no_clobber(self.path, self.filename)
        os.close(self.fd)
        self.fd = -1
        fsync_dir(os.path.dirname(final))
        self.path = self.filename = final
        return final

    def abandon(self) -> None:
        """Close without sealing (the file stays in progress, for recovery)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"ActiveArchive({self.path!r}, records={self.record_count}, size={self.size})"
