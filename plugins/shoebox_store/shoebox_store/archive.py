"""``ArchiveStore``: encore.storage's API as a log-structured store on shoebox archives.

Every change appends a record to the active archive of the store's directory; the latest change
of a key wins; a delete is a tombstone. Each sealed archive ends with an index of the keys it
changed, so opening a store reads the indexes, not the records, and a ``get`` is one ``pread`` of
one record, checked against the CRC-32C its index entry holds. Values larger than a chunk are
stored as a run of chunk records and read back chunk by chunk. ``flush()`` makes every change so
far durable, ``close()`` seals, ``compact()`` rewrites the archives without what was superseded.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import msgpack

from . import _core
from ._layout import MARKER, File, listing, prepare_directory
from ._records import Replay, encode_set, with_txn
from ._segment import Entry, Segment, read_index, scan, seal_copy
from .base import BaseStore
from .errors import CorruptArchive, StoreError, StoreLocked, TruncatedArchive
from .value import ChunkStream, Value

__all__ = ["ArchiveStore", "MARKER"]

_LOCK = ".lock"
_pack = msgpack.Packer(use_bin_type=True).pack  # one packer for every record: no set-up per set
_MiB = 1024 * 1024


class ArchiveStore(BaseStore):
    """A key-value store in a local directory of shoebox archives (created when missing).

    :param path: the store's directory.
    :param readonly: open without the writer's lock and refuse changes (several readers may
        open a store while one process writes it; they see what it had flushed).
    :param roll_size_mb: seal the active archive and start the next at this size.
    :param block_kb: records are written in blocks of about this size.
    :param chunk_kb: values larger than this are stored in chunks of this size.
    """

    kind = "archive"

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 roll_size_mb: float = 64, block_kb: int = 256, chunk_kb: int = 1024) -> None:
        super().__init__()
        self.path = os.path.abspath(os.fspath(path))
        self.readonly = readonly
        for name, option in (("roll_size_mb", roll_size_mb), ("block_kb", block_kb),
                             ("chunk_kb", chunk_kb)):
            if not isinstance(option, (int, float)) or isinstance(option, bool) or option <= 0:
                raise ValueError(f"ArchiveStore: {name} must be a positive number, not {option!r}")
        self.roll_bytes = int(roll_size_mb * _MiB)
        self.block_bytes = int(block_kb * 1024)
        self.chunk_bytes = int(chunk_kb * 1024)
        self._lock_fd = -1
        self._open()

    # -- opening and closing -------------------------------------------------------------------

    def _open(self) -> None:
        prepare_directory(self.path, readonly=self.readonly)
        if not self.readonly:
            self._lock_fd = os.open(os.path.join(self.path, _LOCK), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                self._lock_fd = -1
                raise StoreLocked(f"{self.path}: another process has this store open for "
                                  "writing (open it with readonly=True to read)") from None
        self._index: dict[str, Entry] = {}
        self._files: dict[int, str] = {}
        self._handles: dict[int, File] = {}
        self._active: Segment | None = None
        self._staged: dict[str, Entry | None] | None = None
        self._txn: str | None = None
        self.rebuilt: list[str] = []  # archives whose index had to be rebuilt by scanning
        sealed, unsealed = listing(self.path)
        for seq in sorted(set(sealed) | set(unsealed)):
            if seq in sealed:
                entries = read_index(sealed[seq])
                if entries is None:
                    self.rebuilt.append(sealed[seq])
                    entries = self._replay(sealed[seq], seq)[0]
                self._files[seq] = sealed[seq]
                if seq in unsealed and not self.readonly:
                    os.unlink(unsealed[seq])  # a recovery that stopped after sealing the copy
            else:
                try:
                    entries, facts = self._replay(unsealed[seq], seq)
                except TruncatedArchive:  # created, killed before its header was written
                    if not self.readonly:
                        os.unlink(unsealed[seq])
                    continue
                self._files[seq] = unsealed[seq]
                if not self.readonly:
                    self._files[seq] = seal_copy(unsealed[seq], seq, entries, facts)
            for key, entry in entries.items():
                if entry is None:
                    self._index.pop(key, None)
                else:
                    self._index[key] = entry
        self._next_seq = max(self._files, default=0) + 1
        self._connected = True

    def _replay(self, path: str, seq: int) -> tuple[dict[str, Entry | None], list[int]]:
        records, facts = scan(path)
        return Replay(seq, self._index.get).feed(records), facts

    def flush(self) -> None:
        """Make every change so far durable (write the pending block, fsync)."""
        if self._active is not None:
            self._active.flush()

    def close(self) -> None:
        """Seal the active archive (with its index) and release the store."""
        if self._lock_fd < 0 and not self.readonly:
            return
        try:
            self._seal()
        finally:
            self._handles.clear()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1
            self._connected = False

    def connect(self, credentials: Any = None) -> None:
        """Open the store again after :meth:`disconnect`."""
        if not self._connected:
            self._open()

    def disconnect(self) -> None:
        """Same as :meth:`close`."""
        self.close()

    def __enter__(self) -> ArchiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ArchiveStore({self.path!r})"

    def info(self) -> dict[str, Any]:
        """Facts about the store: ``type``, ``location``, ``keys``, ``archives``, ``bytes``."""
        sizes = [os.path.getsize(p) for p in self._files.values() if os.path.exists(p)]
        return {**super().info(), "readonly": self.readonly, "location": self.path,
                "keys": len(self._index), "archives": len(self._files), "bytes": sum(sizes)}

    # -- the log -------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path}: this store was opened read-only")
        if self._lock_fd < 0:
            raise StoreError(f"{self.path}: the store is closed")

    def _writable(self) -> Segment:
        self._check_writable()
        if self._active is None:
            self._active = Segment(self.path, self._next_seq, block_bytes=self.block_bytes)
            self._files[self._next_seq] = self._active.path
            self._next_seq += 1
        return self._active

    def _append(self, meta: dict[str, str], payload: bytes) -> tuple[int, int, int, int]:
        record = _pack([meta, payload])
        offset = self._writable().append(record)
        return offset, len(record), _core.crc32c(record), len(payload)

    def _put(self, key: str, entry: Entry | None) -> None:
        if self._staged is not None:
            self._staged[key] = entry
            return
        if entry is None:
            self._index.pop(key, None)
        else:
            self._index[key] = entry
        assert self._active is not None
        self._active.entries[key] = entry

    def _maybe_roll(self) -> None:
        if self._staged is None and self._active is not None and (
                self._active.size >= self.roll_bytes):
            self._seal()

    def _seal(self) -> None:
        if self._active is not None:
            segment, self._active = self._active, None
            self._files[segment.seq] = segment.seal()
            self._handles.pop(segment.seq, None)

    def _entry(self, key: str) -> Entry:
        if self._staged is not None and key in self._staged:
            entry = self._staged[key]
        else:
            entry = self._index.get(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def _read(self, seq: int, loc: tuple[int, int, int, int]) -> bytes:
        """The payload of the record at ``loc`` in archive ``seq``, checked against its CRC."""
        offset, length, crc, _ = loc
        if self._active is not None and seq == self._active.seq and self._active.unwritten(
                offset):
            self._active.write_block()
        handle = self._handles.get(seq)
        if handle is None:
            handle = self._handles[seq] = File(self._files[seq])
        record = os.pread(handle.fd, length, offset)
        if len(record) != length or _core.crc32c(record) != crc:
            raise CorruptArchive(f"a stored value fails its checksum ({length} bytes)",
                                 path=handle.path, offset=offset)
        return msgpack.unpackb(record, raw=False)[1]  # type: ignore[no-any-return]

    # -- reading -------------------------------------------------------------------------------

    def _lookup(self, key: str) -> Value:
        entry = self._entry(key)
        text, created, modified, size, seq, locs = entry
        if len(locs) == 1:
            payload = self._read(seq, locs[0])

            def opener(start: int, end: int) -> BinaryIO:
                return io.BytesIO(payload[start:end])
        else:
            def opener(start: int, end: int) -> BinaryIO:
                return ChunkStream(self._pieces(seq, locs, start, end))  # type: ignore[return-value]
        return Value(opener, text, size=size, created=created / 1e9, modified=modified / 1e9)

    def _pieces(self, seq: int, locs: tuple, start: int, end: int) -> Iterator[bytes]:
        at = 0
        for loc in locs:
            if at >= end:
                return
            if at + loc[3] > start:
                payload = self._read(seq, loc)
                yield payload[max(0, start - at): end - at]
            at += loc[3]

    def _metadata(self, key: str) -> dict[str, Any]:
        return json.loads(self._entry(key)[0])  # type: ignore[no-any-return]

    def _exists(self, key: str) -> bool:
        try:
            self._entry(key)
        except KeyError:
            return False
        return True

    def _keys(self) -> Iterator[str]:
        staged = self._staged or {}
        for key in list(self._index):
            if key not in staged:
                yield key
        yield from [key for key, entry in staged.items() if entry is not None]

    def _items(self, wanted: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        # Metadata is kept as the JSON text this store wrote: a query first looks for each
        # wanted "name": value pair as text, and parses only the metadata that has them all.
        needles = [json.dumps(k, ensure_ascii=False) + ": " + (
            json.dumps(v, ensure_ascii=False) if isinstance(v, str) else "")
            for k, v in wanted.items()]
        if self._staged:
            entries = {**self._index, **self._staged}
        else:
            entries = self._index  # type: ignore[assignment]
        found = [(key, entry[0]) for key, entry in entries.items() if entry is not None]
        for needle in needles:  # one pass per term, with no Python call per key
            found = [(key, text) for key, text in found if needle in text]
        for key, text in found:
            yield key, json.loads(text)

    # -- writing -------------------------------------------------------------------------------

    def _write(self, key: str, payload: Any, metadata: dict[str, Any], text: str) -> bool:
        now = time.time_ns()
        try:
            before: Entry | None = self._entry(key)
        except KeyError:
            before = None
        created = before[1] if before is not None else now
        if isinstance(payload, bytes) and len(payload) <= self.chunk_bytes:
            locs: tuple = (self._append(encode_set(key, text, created, now, txn=self._txn),
                                        payload),)
        else:
            pieces = [payload] if isinstance(payload, bytes) else payload
            found = []
            for chunk in pieces:
                for at in range(0, len(chunk), self.chunk_bytes):
                    found.append(self._append(with_txn({"op": "chunk", "key": key}, self._txn),
                                              chunk[at: at + self.chunk_bytes]))
            self._append(encode_set(key, text, created, now, chunks=len(found), txn=self._txn),
                         b"")
            locs = tuple(found)
        assert self._active is not None
        self._put(key, (text, created, now, sum(loc[3] for loc in locs), self._active.seq, locs))
        self._maybe_roll()
        return before is not None

    def _write_metadata(self, key: str, metadata: dict[str, Any], text: str) -> None:
        entry = self._entry(key)
        now = time.time_ns()
        self._append(with_txn({"op": "meta", "key": key, "meta": text, "m": str(now)},
                              self._txn), b"")
        self._put(key, (text, entry[1], now, *entry[3:]))
        self._maybe_roll()

    def _remove(self, key: str) -> dict[str, Any]:
        metadata = self._metadata(key)
        self._append(with_txn({"op": "del", "key": key}, self._txn), b"")
        self._put(key, None)
        self._maybe_roll()
        return metadata

    def _begin(self, notes: str) -> None:
        self._txn = uuid.uuid4().hex[:16]
        self._staged = {}

    def _commit(self) -> None:
        staged, self._staged = self._staged or {}, None
        txn, self._txn = self._txn, None
        if staged:
            self._append({"op": "commit", "txn": txn or ""}, b"")
            for key, entry in staged.items():
                self._put(key, entry)
            self._maybe_roll()

    def _rollback(self) -> None:
        # The transaction's records stay in the archive without their commit record: replay
        # ignores them.
        self._staged = None
        self._txn = None

    # -- maintenance ---------------------------------------------------------------------------

    def compact(self) -> dict[str, int]:
        """Rewrite the archives keeping only each key's current value; crash-safe at every
        step. Returns ``{"before": bytes, "after": bytes, "archives": n}``."""
        from ._compact import compact

        return compact(self)

    def verify(self) -> list[str]:
        """Check every block of every archive and every stored value; returns the problems."""
        from ._compact import verify

        return verify(self)
