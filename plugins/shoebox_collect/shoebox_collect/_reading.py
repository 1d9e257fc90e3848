"""Read one inbox archive back as whole, verified files.

Chunks of a large file are copied to an unnamed temporary file (on disk, hashed as they come) until
its commit record arrives, so memory stays flat whatever the file's size. A file whose bytes do not
match its commit record (size, SHA-256, missing chunks) or whose record is unreadable is handed to
``quarantine`` with what is left of it, never to a destination.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Callable

from shoebox_core.roll_manager import Damage, ReadingRollManager

from ._records import ABORT, CHUNK, FILE, KIND, StagedEntry, read_entry

__all__ = ["InboxReading", "Staged"]

_COPY = 1024 * 1024


class _Spool:
    """The chunks of one file so far, in an unnamed temporary file."""

    def __init__(self, directory: str) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=directory)
        self.hash = hashlib.sha256()
        self.size = 0
        self.count = 0
        self.problem = ""

    def add(self, number: int, payload: bytes) -> None:
        if number != self.count and not self.problem:
            self.problem = f"chunk {self.count} missing (found chunk {number} next)"
        self.count += 1
        self.hash.update(payload)
        self.size += len(payload)
        self.file.write(payload)

    def blocks(self) -> Iterator[bytes]:
        self.file.flush()
        self.file.seek(0)
        while block := self.file.read(_COPY):
            yield block


@dataclass
class Staged:
    """A verified file ready to collect: its entry and a way to stream its content."""

    entry: StagedEntry
    blocks: Callable[[], Iterator[bytes]]


@dataclass
class InboxReading:
    """Reads the inbox archive at ``path``; ``spool_dir`` takes large files' chunks;
    ``quarantine(what, reason, blocks)`` sets a bad file aside."""

    path: str
    spool_dir: str
    quarantine: Callable[[str, str, Iterator[bytes]], None]
    abandoned: int = 0
    damage: list[Damage] = field(default_factory=list)

    def files(self) -> Iterator[Staged]:
        """Yield each good file in the order its commit record was written."""
        spools: dict[str, _Spool] = {}
        reader = ReadingRollManager(
            os.path.basename(self.path), directory=os.path.dirname(self.path), lenient=True
        )
        try:
            for meta, payload in reader:
                kind = meta.get(KIND)
                if kind == FILE:
                    staged = self._finish(meta, payload, spools)
                    if staged is not None:
                        yield staged
                elif kind == CHUNK:
                    file_id = meta.get("id", "")
                    spool = spools.get(file_id)
                    if spool is None:
                        spool = spools[file_id] = _Spool(self.spool_dir)
                    try:
                        spool.add(int(meta.get("n", "-1")), _as_bytes(payload))
                    except ValueError:
                        spool.problem = f"unreadable chunk record {meta!r}"
                elif kind == ABORT:
                    spool = spools.pop(meta.get("id", ""), None)
                    if spool is not None:
                        spool.file.close()
                    self.abandoned += 1
                else:
                    self.quarantine(f"record {meta!r}", "not a shoebox-collect record",
                                    iter([_as_bytes(payload)]))
        finally:
            reader.close()
            self.damage = list(reader.damage)
            self.abandoned += len(spools)  # chunks never committed: their worker died first
            for spool in spools.values():
                spool.file.close()

    def _finish(self, meta: dict[str, str], payload: str | bytes,
                spools: dict[str, _Spool]) -> Staged | None:
        data = _as_bytes(payload)
        try:
            entry = read_entry(meta)
        except ValueError as exc:
            spool = spools.pop(meta.get("id", ""), None)
            self.quarantine(str(meta.get("dest", "?")), f"bad commit record: {exc}",
                            spool.blocks() if spool is not None else iter([data]))
            return None
        if entry.chunks == 0:
            problem = ""
            if len(data) != entry.size:
                problem = f"{len(data)} bytes stored, {entry.size} recorded"
            elif hashlib.sha256(data).hexdigest() != entry.sha256:
                problem = "SHA-256 of the stored bytes differs from the one recorded"
            if problem:
                self.quarantine(str(entry.dest), problem, iter([data]))
                return None
            return Staged(entry, lambda: iter([data]))
        spool = spools.pop(entry.id, None)
        if spool is None:
            self.quarantine(str(entry.dest), f"its {entry.chunks} chunk(s) are missing", iter(()))
            return None
        problem = spool.problem
        if not problem and spool.count != entry.chunks:
            problem = f"{spool.count} of its {entry.chunks} chunks found"
        elif not problem and spool.size != entry.size:
            problem = f"{spool.size} bytes stored, {entry.size} recorded"
        elif not problem and spool.hash.hexdigest() != entry.sha256:
            problem = "SHA-256 of the stored bytes differs from the one recorded"
        if problem:
            self.quarantine(str(entry.dest), problem, spool.blocks())
            spool.file.close()
            return None

        def blocks(spool: _Spool = spool) -> Iterator[bytes]:
            try:
                yield from spool.blocks()
            finally:
                spool.file.close()

        return Staged(entry, blocks)


def _as_bytes(payload: str | bytes) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else payload
