"""encore.storage's key-value API, written once over a few primitives each backend provides."""

from __future__ import annotations

import fnmatch
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from ._streams import as_stream, chunks, closing, dump_metadata
from ._transaction import Transaction
from .events import (
    EventManager,
    ProgressReporter,
    StoreDeleteEvent,
    StoreEvent,
    StoreSetEvent,
    StoreUpdateEvent,
)
from .keys import check_key, check_metadata
from .value import Value

__all__ = ["BUFFER_SIZE", "BaseStore", "dump_metadata"]

BUFFER_SIZE = 1048576
_MISSING = object()


class BaseStore:
    """The API of encore.storage's ``AbstractStore``, with its names and semantics.

    Subclasses provide ``_lookup``, ``_exists``, ``_write``, ``_write_metadata``, ``_remove``,
    ``_items`` and ``_keys``, and may provide ``_begin`` / ``_commit`` / ``_rollback``.
    """

    kind = "base"

    def __init__(self) -> None:
        self.event_manager = EventManager()
        self._connected = True
        self._depth = 0
        self._failed = False
        self._queued: list[StoreEvent] | None = None

    # -- connection ----------------------------------------------------------------------------

    def connect(self, credentials: Any = None) -> None:
        """Connect to the store (``credentials`` are not used by these backends)."""
        self._connected = True

    def disconnect(self) -> None:
        """Disconnect from the store."""
        self._connected = False

    def is_connected(self) -> bool:
        """Whether the store is connected."""
        return self._connected

    def info(self) -> dict[str, Any]:
        """Facts about the store: ``type``, ``readonly``, ``authorizing`` and backend details."""
        return {"type": type(self).__name__, "readonly": False, "authorizing": False}

    # -- events --------------------------------------------------------------------------------

    def _emit(self, event: StoreEvent) -> None:
        if self.event_manager.active:
            self.event_manager.emit(event)

    def _changed(self, cls: type[StoreEvent], key: str, metadata: Any) -> None:
        if not self.event_manager.active:
            return
        event = cls(self, key=key, metadata=metadata)
        if self._queued is not None:
            self._queued.append(event)
        else:
            self.event_manager.emit(event)

    # -- reading -------------------------------------------------------------------------------

    def get(self, key: str) -> Value:
        """The value of ``key`` (data stream, metadata copy, size, times); ``KeyError`` if
        missing."""
        return self._lookup(check_key(key))

    def get_data(self, key: str) -> BinaryIO:
        """A readable stream of the data of ``key``."""
        return self.get(key).data

    def get_data_range(self, key: str, start: int | None = None,
                       end: int | None = None) -> BinaryIO:
        """A stream of the bytes ``start:end`` of ``key``'s data (slice semantics)."""
        return self.get(key).range(start, end)

    def get_metadata(self, key: str, select: Iterable[str] | None = None) -> dict[str, Any]:
        """A copy of ``key``'s metadata; with ``select``, only those names (missing ones are
        left out)."""
        metadata = self._metadata(check_key(key))
        return metadata if select is None else _select(metadata, select)

    def exists(self, key: str) -> bool:
        """Whether ``key`` is in the store."""
        return self._exists(check_key(key))

    def multiget(self, keys: Iterable[str]) -> Iterator[Value]:
        """The values of ``keys``, in order (lazily)."""
        for key in keys:
            yield self.get(key)

    def multiget_data(self, keys: Iterable[str]) -> Iterator[BinaryIO]:
        """The data streams of ``keys``, in order (lazily)."""
        for key in keys:
            yield self.get_data(key)

    def multiget_metadata(self, keys: Iterable[str],
                          select: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """The metadata of ``keys``, in order (lazily), restricted to ``select`` if given."""
        select = None if select is None else list(select)
        for key in keys:
            yield self.get_metadata(key, select)

    def query(self, select: Iterable[str] | None = None,
              **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, metadata)`` of every key whose metadata has each keyword's name with an equal
        value (a missing name never matches, not even ``None``); ``select`` limits the names
        returned."""
        select = None if select is None else list(select)
        for key, metadata in self._items(kwargs):
            if all(metadata.get(k, _MISSING) == v for k, v in kwargs.items()):
                yield key, (metadata if select is None else _select(metadata, select))

    def query_keys(self, **kwargs: Any) -> Iterator[str]:
        """The keys :meth:`query` would return."""
        if not kwargs:
            yield from self._keys()
            return
        for key, _ in self.query(**kwargs):
            yield key

    def glob(self, pattern: str) -> Iterator[str]:
        """The keys matching the shell-style ``pattern`` (``fnmatchcase`` over whole keys, so
        ``*`` also matches ``/``)."""
        if not isinstance(pattern, str):
            raise TypeError(f"glob pattern must be a str, not {type(pattern).__name__}")
        matcher = re.compile(fnmatch.translate(pattern)).match
        for key in self._keys():
            if matcher(key):
                yield key

    def to_file(self, key: str, path: str | os.PathLike[str],
                buffer_size: int = BUFFER_SIZE) -> None:
        """Write ``key``'s data to the local file ``path``, replacing it only once the whole
        value is written (a missing key or a failure leaves ``path`` untouched)."""
        value = self.get(key)
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                    dir=directory)
        try:
            with os.fdopen(fd, "wb") as out, value, ProgressReporter(
                self, self.event_manager, key=key, metadata=value.metadata, steps=value.size,
                message=f"Saving key {key!r} to file {target!r}"
            ) as progress:
                for chunk in value.iterdata(buffer_size, progress):
                    out.write(chunk)
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise

    def to_bytes(self, key: str, buffer_size: int = BUFFER_SIZE) -> bytes:
        """``key``'s data as bytes."""
        with self.get(key) as data:
            return data.read()

    # -- writing -------------------------------------------------------------------------------

    def set(self, key: str, value: Any, buffer_size: int = BUFFER_SIZE) -> None:
        """Store ``value``: a ``(data, metadata)`` pair (data a readable stream or bytes) or a
        :class:`Value`. All or nothing: readers and crashes see the old value or the new one."""
        key = check_key(key)
        if isinstance(value, tuple):
            if len(value) != 2:
                raise TypeError(f"value for key {key!r} must be a (data, metadata) pair")
            data, metadata = value
            size = -1
        elif hasattr(value, "data") and hasattr(value, "metadata"):
            data, metadata, size = value.data, value.metadata, getattr(value, "size", -1)
        else:
            raise TypeError(f"value for key {key!r} must be a (data, metadata) pair or a Value, "
                            f"not {type(value).__name__}")
        self._set(key, data, check_metadata(key, metadata), buffer_size, size)

    def _set(self, key: str, data: Any, metadata: dict[str, Any], buffer_size: int,
             size: int = -1) -> None:
        text = dump_metadata(key, metadata)
        if isinstance(data, (bytes, bytearray, memoryview)):
            existed = self._write(key, bytes(data), metadata, text)
        elif type(data) is io.BytesIO and len(data.getbuffer()) - data.tell() <= buffer_size:
            existed = self._write(key, data.read(), metadata, text)  # all of it in one read
            data.close()
        else:
            existed = self._write_stream(key, as_stream(key, data), metadata, text,
                                         buffer_size, size)
        self._changed(StoreUpdateEvent if existed else StoreSetEvent, key, metadata)

    def _write_stream(self, key: str, stream: Any, metadata: dict[str, Any], text: str,
                      buffer_size: int, size: int) -> bool:
        if not isinstance(buffer_size, int) or buffer_size <= 0:
            raise ValueError(f"buffer_size must be a positive int, not {buffer_size!r}")
        with closing(stream):
            first = stream.read(buffer_size)
            second = stream.read(buffer_size) if first else b""
            if not second:
                return self._write(key, bytes(first), metadata, text)
            progress = ProgressReporter(self, self.event_manager, key=key, metadata=metadata,
                                        steps=size, message=f"Setting key {key!r}")
            with progress:
                return self._write(key, chunks(stream, buffer_size, (first, second), progress),
                                   metadata, text)

    def set_data(self, key: str, data: Any, buffer_size: int = BUFFER_SIZE) -> None:
        """Replace ``key``'s data, keeping its metadata (``{}`` for a new key)."""
        key = check_key(key)
        try:
            metadata = self._metadata(key)
        except KeyError:
            metadata = {}
        self._set(key, data, metadata, buffer_size)

    def set_metadata(self, key: str, metadata: dict[str, Any]) -> None:
        """Replace ``key``'s metadata (a new key gets empty data, as in encore)."""
        key = check_key(key)
        check_metadata(key, metadata)
        text = dump_metadata(key, metadata)
        if not self._exists(key):
            self._set(key, b"", metadata, BUFFER_SIZE)
            return
        self._write_metadata(key, metadata, text)
        self._changed(StoreUpdateEvent, key, metadata)

    def update_metadata(self, key: str, metadata: dict[str, Any]) -> None:
        """Merge ``metadata`` into ``key``'s metadata (``KeyError`` if the key is missing)."""
        key = check_key(key)
        check_metadata(key, metadata)
        merged = self._metadata(key)
        merged.update(metadata)
        self._write_metadata(key, merged, dump_metadata(key, merged))
        self._changed(StoreUpdateEvent, key, merged)

    def delete(self, key: str) -> None:
        """Remove ``key`` (``KeyError`` if it is missing)."""
        metadata = self._remove(check_key(key))
        self._changed(StoreDeleteEvent, key, metadata)

    def multiset(self, keys: Iterable[str], values: Iterable[Any],
                 buffer_size: int = BUFFER_SIZE) -> None:
        """``set`` each key to its value (zip semantics), in one transaction."""
        keys = [check_key(k) for k in keys]
        with self.transaction(f"Setting {len(keys)} keys"):
            for key, value in zip(keys, values):
                self.set(key, value, buffer_size)

    def multiset_data(self, keys: Iterable[str], datas: Iterable[Any],
                      buffer_size: int = BUFFER_SIZE) -> None:
        """``set_data`` for each key (zip semantics), in one transaction."""
        keys = [check_key(k) for k in keys]
        with self.transaction(f"Setting data for {len(keys)} keys"):
            for key, data in zip(keys, datas):
                self.set_data(key, data, buffer_size)

    def multiset_metadata(self, keys: Iterable[str], metadatas: Iterable[dict[str, Any]]) -> None:
        """``set_metadata`` for each key (zip semantics), in one transaction."""
        keys = [check_key(k) for k in keys]
        with self.transaction(f"Setting metadata for {len(keys)} keys"):
            for key, metadata in zip(keys, metadatas):
                self.set_metadata(key, metadata)

    def multiupdate_metadata(self, keys: Iterable[str],
                             metadatas: Iterable[dict[str, Any]]) -> None:
        """``update_metadata`` for each key (zip semantics), in one transaction; a missing key
        raises ``KeyError`` before anything is changed."""
        pairs = list(zip([check_key(k) for k in keys], metadatas))
        for key, metadata in pairs:
            check_metadata(key, metadata)
            if not self._exists(key):
                raise KeyError(key)
        with self.transaction(f"Updating metadata for {len(pairs)} keys"):
            for key, metadata in pairs:
                self.update_metadata(key, metadata)

    def transaction(self, notes: str = "") -> Transaction:
        """A context manager grouping changes: transaction start and end events, modification
        events delivered at the end; backends that can make it atomic do."""
        return Transaction(self, notes)

    def from_file(self, key: str, path: str | os.PathLike[str],
                  buffer_size: int = BUFFER_SIZE) -> None:
        """Set ``key``'s data from the local file ``path`` (metadata kept)."""
        with open(path, "rb") as stream:
            self.set_data(key, stream, buffer_size)

    def from_bytes(self, key: str, data: bytes, buffer_size: int = BUFFER_SIZE) -> None:
        """Set ``key``'s data from ``data`` (metadata kept)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"from_bytes: data for key {key!r} must be bytes, not "
                            f"{type(data).__name__}")
        self.set_data(key, io.BytesIO(data), buffer_size)

    # -- backend primitives ----------------------------------------------------------------------

    def _lookup(self, key: str) -> Value:
        raise NotImplementedError

    def _metadata(self, key: str) -> dict[str, Any]:
        value = self._lookup(key)
        value.close()
        return value.metadata

    def _exists(self, key: str) -> bool:
        raise NotImplementedError

    def _write(self, key: str, payload: Any, metadata: dict[str, Any], text: str) -> bool:
        """Store a value (``payload`` is bytes or an iterator of chunks); return whether the key
        existed."""
        raise NotImplementedError

    def _write_metadata(self, key: str, metadata: dict[str, Any], text: str) -> None:
        raise NotImplementedError

    def _remove(self, key: str) -> dict[str, Any]:
        raise NotImplementedError

    def _items(self, wanted: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, metadata)`` pairs; ``wanted`` (the query) lets a backend skip keys early."""
        raise NotImplementedError

    def _keys(self) -> Iterator[str]:
        raise NotImplementedError

    def _begin(self, notes: str) -> None:
        """A transaction starts."""

    def _commit(self) -> None:
        """The outermost transaction ended well."""

    def _rollback(self) -> None:
        """The outermost transaction ended with an exception."""


def _select(metadata: dict[str, Any], select: Iterable[str]) -> dict[str, Any]:
    return {name: metadata[name] for name in select if name in metadata}
