"""How a staged file is stored as records of an inbox archive: the one place that writes and reads
their metadata.

A file of at most one chunk is one record: its metadata describes it, its payload is its content.
A larger file is its chunk records (``k=chunk``, ``id``, ``n``) followed by a commit record
(``k=file``, ``chunks`` = their count, empty payload). A file whose ``with`` block raised gets an
``abort`` record (``k=abort``) if chunks were already written; chunks without a commit (an abort,
or a worker killed midway) are discarded by the collector.
"""

from __future__ import annotations

from dataclasses import dataclass

from .destination import Destination, parse_destination

__all__ = ["StagedEntry", "abort_meta", "chunk_meta", "entry_meta", "read_entry"]

KIND = "k"
FILE, CHUNK, ABORT = "file", "chunk", "abort"


@dataclass(frozen=True)
class StagedEntry:
    """One staged file as its commit record describes it."""

    id: str
    dest: Destination
    size: int
    mode: int
    mtime_ns: int
    sha256: str
    chunks: int  # 0: the content is the commit record's payload


def entry_meta(entry: StagedEntry) -> dict[str, str]:
    """The metadata of ``entry``'s commit record."""
    return {
        KIND: FILE,
        "id": entry.id,
        "dest": str(entry.dest),
        "size": str(entry.size),
        "mode": str(entry.mode),
        "mtime_ns": str(entry.mtime_ns),
        "sha256": entry.sha256,
        "chunks": str(entry.chunks),
    }


def chunk_meta(file_id: str, number: int) -> dict[str, str]:
    """The metadata of chunk ``number`` (0-based) of file ``file_id``."""
    return {KIND: CHUNK, "id": file_id, "n": str(number)}


def abort_meta(file_id: str) -> dict[str, str]:
    """The metadata of the record that abandons file ``file_id``."""
    return {KIND: ABORT, "id": file_id}


def read_entry(meta: dict[str, str]) -> StagedEntry:
    """The entry a commit record describes; ``ValueError`` saying what is wrong with it."""
    try:
        entry = StagedEntry(
            id=meta["id"],
            dest=parse_destination(meta["dest"]),
            size=int(meta["size"]),
            mode=int(meta["mode"]),
            mtime_ns=int(meta["mtime_ns"]),
            sha256=meta["sha256"],
            chunks=int(meta["chunks"]),
        )
    except KeyError as exc:
        raise ValueError(f"commit record without {exc.args[0]!r}: {meta!r}") from None
    if entry.size < 0 or entry.chunks < 0 or len(entry.sha256) != 64:
        raise ValueError(f"commit record with impossible values: {meta!r}")
    return entry
