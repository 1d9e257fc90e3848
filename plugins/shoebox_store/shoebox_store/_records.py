"""The records an archive store appends, and the replay that turns them back into key states.

Every change is one record (``[metadata, payload]`` of the shoebox format, metadata all
strings): ``op`` is ``set`` (with ``key``, ``meta``: the metadata as JSON, ``c`` / ``m``: created
and modified times in ns, and the value as payload), ``meta`` (a metadata change, data kept),
``del`` (a tombstone) or ``chunk`` (a piece of a value larger than a block; the ``set`` that
follows its chunks has ``n``, their count, and an empty payload). Changes made inside a
transaction carry ``txn``; they count only once a ``commit`` record with that ``txn`` follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._segment import Entry

__all__ = ["Replay"]

Scanned = tuple  # (metadata, payload length, offset, length, crc)


class Replay:
    """Rebuild the key states one file gives, from its records in order.

    ``lookup(key)`` returns the state before this file (for ``meta`` records, which keep the
    data stored earlier).
    """

    def __init__(self, seq: int, lookup: Callable[[str], Entry | None]) -> None:
        self.seq = seq
        self.lookup = lookup
        self.entries: dict[str, Entry | None] = {}
        self._chunks: dict[str, list[tuple[int, int, int, int]]] = {}
        self._txns: dict[str, list[Scanned]] = {}

    def _previous(self, key: str, staged: dict[str, Entry | None]) -> Entry | None:
        if key in staged:
            return staged[key]
        if key in self.entries:
            return self.entries[key]
        return self.lookup(key)

    def feed(self, records: Iterable[Scanned]) -> dict[str, Entry | None]:
        """Apply ``records``; returns the file's key states (``None``: deleted)."""
        for record in records:
            meta = record[0]
            txn = meta.get("txn")
            if meta.get("op") == "commit":
                staged: dict[str, Entry | None] = {}
                for change in self._txns.pop(txn, ()):
                    self._apply(change, staged)
                self.entries.update(staged)
            elif txn is not None:
                self._txns.setdefault(txn, []).append(record)
            else:
                self._apply(record, self.entries)
        return self.entries

    def _apply(self, record: Scanned, into: dict[str, Entry | None]) -> None:
        meta, nbytes, offset, length, crc = record
        op = meta.get("op")
        key = meta.get("key")
        if not isinstance(key, str):
            return
        if op == "chunk":
            self._chunks.setdefault(key, []).append((offset, length, crc, nbytes))
        elif op == "set":
            count = int(meta.get("n", 0))
            if count:
                locs = tuple(self._chunks.pop(key, [])[-count:])
                if len(locs) != count:
                    return  # chunks lost to damage: the value is not whole
            else:
                locs = ((offset, length, crc, nbytes),)
            size = sum(loc[3] for loc in locs)
            into[key] = (meta["meta"], int(meta["c"]), int(meta["m"]), size, self.seq, locs)
        elif op == "meta":
            before = self._previous(key, into)
            if before is not None:
                into[key] = (meta["meta"], before[1], int(meta["m"]), *before[3:])
        elif op == "del":
            into[key] = None


def encode_set(key: str, text: str, created: int, modified: int, *,
               chunks: int = 0, txn: str | None = None) -> dict[str, str]:
    """The record metadata of a set."""
    meta = {"op": "set", "key": key, "meta": text, "c": str(created), "m": str(modified)}
    if chunks:
        meta["n"] = str(chunks)
    if txn is not None:
        meta["txn"] = txn
    return meta


def with_txn(meta: dict[str, str], txn: str | None) -> dict[str, Any]:
    """``meta`` marked as part of transaction ``txn`` (if any)."""
    if txn is not None:
        meta["txn"] = txn
    return meta
