"""The file objects :meth:`Inbox.open() <shoebox_collect.Inbox.open>` returns.

What is written goes to the inbox a chunk at a time (never the whole file in memory) and is
hashed as it goes; the file is stored only when it is closed without an error. A ``with`` block
that raises, :meth:`StagedFile.abort` or a file dropped without being closed stores nothing.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

from ._records import StagedEntry, abort_meta, chunk_meta
from .destination import Destination

if TYPE_CHECKING:
    from .inbox import Inbox

__all__ = ["StagedFile", "StagedTextFile"]


class StagedFile(io.BufferedIOBase):
    """A write-only binary file staged into an inbox (see the module docstring)."""

    def __init__(
        self, inbox: Inbox, dest: Destination, file_id: str, *, mode: int, mtime_ns: int | None
    ) -> None:
        super().__init__()
        self._inbox = inbox
        self.dest = dest
        self._id = file_id
        self._mode = mode
        self._mtime_ns = mtime_ns
        self._chunk = inbox.chunk_bytes
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._size = 0
        self._chunks = 0
        self._finished = False
        #: True once the file was stored; False after an abort.
        self.stored = False

    @property
    def name(self) -> str:
        """The destination, ``archive/entry``."""
        return str(self.dest)

    def writable(self) -> bool:
        """Always True (until closed)."""
        return True

    def write(self, data: Any) -> int:
        """Append ``data`` (any bytes-like object); returns its length in bytes."""
        if self.closed:
            raise ValueError(f"write to a closed staged file ({self.dest})")
        view = memoryview(data).cast("B")
        size = len(view)
        self._hash.update(view)
        self._size += size
        buffer, chunk = self._buffer, self._chunk
        done = 0
        while done < size:
            take = min(chunk - len(buffer), size - done)
            buffer += view[done : done + take]
            done += take
            if len(buffer) >= chunk:
                self._inbox._write(chunk_meta(self._id, self._chunks), bytes(buffer))
                self._chunks += 1
                buffer.clear()
        return size

    def flush(self) -> None:
        """Nothing to do: chunks go to the inbox as they fill, the rest when the file is closed."""
        if self.closed:
            return

    def close(self) -> None:
        """Store the file (once): its last bytes and the record that describes it."""
        if self.closed:
            return
        try:
            if not self._finished:
                self._finished = True
                self._commit()
        finally:
            super().close()

    def _commit(self) -> None:
        chunks = self._chunks
        if chunks and self._buffer:
            self._inbox._write(chunk_meta(self._id, chunks), bytes(self._buffer))
            chunks += 1
        payload = b"" if chunks else bytes(self._buffer)
        self._buffer = bytearray()
        entry = StagedEntry(
            id=self._id, dest=self.dest, size=self._size, mode=self._mode,
            mtime_ns=self._mtime_ns if self._mtime_ns is not None else self._inbox._now_ns(),
            sha256=self._hash.hexdigest(), chunks=chunks,
        )
        try:
            self._inbox._commit(entry, payload)
        finally:
            self._inbox._release(self)
        self.stored = True

    def abort(self) -> None:
        """Close without storing anything (chunks already in the inbox are marked abandoned)."""
        if self.closed:
            return
        self._finished = True
        try:
            if self._chunks:
                self._inbox._write(abort_meta(self._id), b"")
        finally:
            self._inbox._release(self)
            self._buffer = bytearray()
            super().close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # Dropped without close(): a half-written file must not be stored. Nothing is written
        # (the interpreter may be shutting down); its chunks are discarded at collection.
        if not self.closed and not self._finished:
            self._finished = True
            try:
                self._inbox._release(self)
            except Exception:  # noqa: S110 - nothing useful to do in a finalizer
                pass
        super().__del__()

    def __repr__(self) -> str:
        return f"<StagedFile {self.name!r} size={self._size}>"


class StagedTextFile(io.TextIOWrapper):
    """The text version (``mode="w"``): UTF-8 unless told otherwise, over a :class:`StagedFile`."""

    buffer: StagedFile

    def abort(self) -> None:
        """Close without storing anything."""
        self.buffer.abort()

    @property
    def stored(self) -> bool:
        """True once the file was stored."""
        return self.buffer.stored

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.buffer.abort()
        else:
            self.close()
