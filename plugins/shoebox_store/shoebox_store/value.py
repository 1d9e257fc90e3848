"""The value a store's ``get`` returns: a lazily opened data stream, a metadata copy, facts."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

__all__ = ["ChunkStream", "Value", "slice_bounds"]

#: ``opener(start, end)`` returns a readable binary stream of the value's bytes ``start:end``.
Opener = Callable[[int, int], BinaryIO]


def slice_bounds(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """``start`` and ``end`` with Python's slice semantics over ``size`` bytes (negative counts
    from the end, out-of-range is clipped); returns ``(start, end)`` with ``start <= end``."""
    for name, bound in (("start", start), ("end", end)):
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
            raise TypeError(f"range {name} must be an int or None, not {bound!r}")
    first, last, _ = slice(start, end).indices(size)
    return first, max(first, last)


class ChunkStream(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks (read lazily, never joined)."""

    def __init__(self, chunks: Iterable[bytes], on_close: Callable[[], None] | None = None):
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._left = memoryview(b"")
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._left:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._left = memoryview(chunk).cast("B")
                continue
            n = min(len(view) - filled, len(self._left))
            view[filled:filled + n] = self._left[:n]
            self._left = self._left[n:]
            filled += n
        return filled

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
            if self._on_close is not None:
                self._on_close()
        super().close()


class Value:
    """A stored value, as encore.storage returned it.

    ``data`` is a readable binary stream, opened on first use (the same stream each time);
    ``metadata`` a deep copy each time (the store may hand over its JSON text); ``size`` in
    bytes; ``created`` and ``modified`` as POSIX timestamps (``created`` is ``None`` where the
    backend does not know it). Use it as a context manager (``with store.get(k) as data:``) or
    unpack it (``data, metadata = store.get(k)``).
    """

    def __init__(self, opener: Opener, metadata: dict[str, Any] | str, *, size: int,
                 created: float | None, modified: float | None) -> None:
        self._opener = opener
        self._metadata = metadata
        self._data: BinaryIO | None = None
        self.size = size
        self.created = created
        self.modified = modified

    @property
    def data(self) -> BinaryIO:
        """The value's bytes as a readable stream (close it, or use the value in ``with``)."""
        if self._data is None:
            self._data = self._opener(0, self.size)
        return self._data

    @property
    def metadata(self) -> dict[str, Any]:
        """A deep copy of the value's metadata."""
        if isinstance(self._metadata, str):  # JSON text: parsing it makes a fresh copy
            return json.loads(self._metadata)  # type: ignore[no-any-return]
        return copy.deepcopy(self._metadata)

    def range(self, start: int | None = None, end: int | None = None) -> BinaryIO:
        """A new stream of the bytes ``start:end`` (slice semantics: ``end`` excluded, negative
        counts from the end)."""
        first, last = slice_bounds(self.size, start, end)
        return self._opener(first, last)

    def iterdata(self, buffer_size: int = 1048576,
                 progress: Callable[..., Any] | None = None) -> Iterator[bytes]:
        """Yield the whole data (from a stream of its own) in chunks of ``buffer_size``;
        ``progress(step=bytes_so_far)`` after each."""
        done = 0
        with self._opener(0, self.size) as stream:
            while True:
                chunk = stream.read(buffer_size)
                if not chunk:
                    return
                done += len(chunk)
                if progress is not None:
                    progress(step=done)
                yield chunk

    def close(self) -> None:
        """Close the data stream, if it was opened."""
        if self._data is not None:
            self._data.close()

    def __enter__(self) -> BinaryIO:
        return self.data

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return iter((self.data, self.metadata))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        if index in (0, -2):
            return self.data
        if index in (1, -1):
            return self.metadata
        raise IndexError(index)

    def __repr__(self) -> str:
        return f"Value(size={self.size}, metadata={self._metadata!r})"
