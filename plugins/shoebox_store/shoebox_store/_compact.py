"""Compaction and verification of an :class:`~shoebox_store.archive.ArchiveStore`.

Compaction is crash-safe at every step because the store's state never depends on how far it
got: the current value of every key is copied, with its metadata and times, into new archives
numbered after every old one; each new archive is sealed (fsynced, renamed) before the next is
started; only once they all are durable are the old archives deleted, oldest first. The store
read at any point in between is the same: new archives repeat the latest values, and an old
archive left behind is always a newest-first suffix, whose tombstones still hide the keys they
deleted (deleting a newer archive first could bring a deleted key back from an older one).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgpack

from . import _core
from ._records import encode_set
from ._segment import Segment, read_index, scan

if TYPE_CHECKING:
    from .archive import ArchiveStore

__all__ = ["compact", "verify"]


def compact(store: ArchiveStore) -> dict[str, int]:
    """Rewrite ``store``'s archives with only the current value of each key."""
    if store._staged is not None:
        raise RuntimeError("compact() cannot run inside a transaction")
    store._check_writable()
    store._seal()
    old = sorted(store._files)
    before = sum(os.path.getsize(store._files[seq]) for seq in old)
    index: dict[str, Any] = {}
    segment: Segment | None = None
    made: dict[int, str] = {}
    for key in sorted(store._index):
        text, created, modified, size, seq, locs = store._index[key]
        if segment is None:
            segment = Segment(store.path, store._next_seq, block_bytes=store.block_bytes)
            store._next_seq += 1
        found = []
        if len(locs) == 1:
            found.append(_add(segment, encode_set(key, text, created, modified),
                              store._read(seq, locs[0])))
        else:
            for loc in locs:  # one chunk in memory at a time
                found.append(_add(segment, {"op": "chunk", "key": key}, store._read(seq, loc)))
            _add(segment, encode_set(key, text, created, modified, chunks=len(found)), b"")
        entry = (text, created, modified, size, segment.seq, tuple(found))
        segment.entries[key] = entry
        index[key] = entry
        if segment.size >= store.roll_bytes:
            made[segment.seq] = segment.seal()
            segment = None
    if segment is not None:
        made[segment.seq] = segment.seal()
    # Every new archive is sealed and durable: the old ones can go, oldest first.
    for seq in old:
        os.unlink(store._files.pop(seq))
        store._handles.pop(seq, None)
    store._files.update(made)
    store._index = index
    after = sum(os.path.getsize(path) for path in made.values())
    return {"before": before, "after": after, "archives": len(made)}


def _add(segment: Segment, meta: dict[str, str], payload: bytes) -> tuple[int, int, int, int]:
    record = msgpack.packb([meta, payload], use_bin_type=True)
    return segment.append(record), len(record), _core.crc32c(record), len(payload)


def verify(store: ArchiveStore) -> list[str]:
    """Check every block of every archive of ``store`` and read back every value."""
    problems: list[str] = []
    if not store.readonly:
        store.flush()
    for path in [store._files[seq] for seq in sorted(store._files)]:
        try:
            records, facts = scan(path)
            for _ in records:
                pass
        except Exception as exc:  # an unreadable file header
            problems.append(f"{path}: {exc}")
            continue
        if facts[1]:
            problems.append(f"{path}: {facts[1]} byte(s) of damaged blocks skipped")
        sealed = path.endswith(".sbx")
        if sealed and not facts[2]:
            problems.append(f"{path}: sealed archive has no end marker (truncated)")
        if sealed and read_index(path) is None:
            problems.append(f"{path}: index block missing or damaged (rebuilt by scanning)")
    for key in sorted(store._index):
        try:
            with store.get(key) as data:
                while data.read(1024 * 1024):
                    pass
        except Exception as exc:
            problems.append(f"key {key!r}: {exc}")
    return problems
