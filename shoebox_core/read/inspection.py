"""Looking at archives as files: what each holds (``shoebox ls``) and whether every byte is good
(``shoebox verify``).

:func:`describe_archive` reads a file's header and block headers, not its records: a sealed,
uncompressed archive is described from its header and its end marker alone, however large it is.
:func:`verify_archive` reads everything and checks every checksum.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import msgpack

from .._fsutil import INPROGRESS_SUFFIX
from ..errors import TRUNCATED, ShoeboxError
from ..format import v2 as _v2
from ..read.manager import Damage, read_archive
from ..read.sources import OpenedArchive, Source, find_sources, in_write_order, open_archive

__all__ = ["ArchiveInfo", "Verdict", "describe_archive", "find_archives", "location",
           "verify_archive"]

_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class ArchiveInfo:
    """What one archive file holds, from its headers.

    ``state`` is ``"sealed"``, ``"in progress"``, ``"truncated"`` (sealed name, no end marker),
    ``"damaged"``, ``"legacy"`` (stacktach-shoebox version 1), ``"empty"`` or ``"unreadable"``.
    ``records`` counts the records of complete blocks; times are epoch seconds.
    """

    path: str
    size: int | None
    state: str
    format: str = "v2"
    codec: str | None = None  # how blocks are compressed
    compression: str | None = None  # how the whole file is compressed (gzip, zstd)
    records: int | None = None
    created: float | None = None
    sealed: float | None = None
    writer: str | None = None
    problem: str | None = None

    @property
    def in_progress(self) -> bool:
        """True for a file still carrying its in-progress name."""
        return self.path.endswith(INPROGRESS_SUFFIX)

    @property
    def damaged(self) -> bool:
        """True when the file is not what its name promises (truncated, damaged, unreadable)."""
        return self.state in ("truncated", "damaged", "unreadable")


@dataclass
class Verdict:
    """The result of checking every byte of one archive."""

    path: str
    records: int = 0
    damage: list[Damage] = field(default_factory=list)
    in_progress: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing was damaged."""
        return not self.damage


def find_archives(
    patterns: Iterable[str],
    directory: str = ".",
    *,
    include_in_progress: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> list[Source]:
    """Every archive matching any of ``patterns`` (local wildcards, paths or fsspec URLs), once
    each, in write order. A pattern naming one in-progress file exactly finds it.

    The first archives are kept open from finding their order (see
    :func:`~shoebox_core.read.sources.in_write_order`): describing, verifying or reading them
    opens nothing again; :func:`~shoebox_core.read.sources.release` closes those left unread."""
    found: dict[str, Source] = {}
    for pattern in patterns:
        exact = not (_WILDCARDS & set(pattern)) and pattern.endswith(INPROGRESS_SUFFIX)
        for source in find_sources(pattern, directory, storage_options=storage_options,
                                   include_in_progress=include_in_progress or exact):
            found.setdefault(source.path, source)
    return in_write_order(found.values())


def _ns(value: object) -> float | None:
    return value / 1e9 if isinstance(value, int) else None


def location(source: Source) -> str:
    """Where ``source`` is, as a user gives it back to ``shoebox cat``: a local path, or a URL
    with its scheme (``s3://bucket/key``, not the file system's bare ``bucket/key``)."""
    unstrip = getattr(source.fs, "unstrip_protocol", None)
    if unstrip is None or getattr(source.fs, "protocol", None) in ("file", ("file", "local")):
        return source.path
    return str(unstrip(source.path))


def describe_archive(source: Source) -> ArchiveInfo:
    """Describe one archive from its headers (see the module docstring). A file the process
    may not read raises :class:`PermissionError`: a file-system problem, not damage."""
    size = source.size
    path = location(source)
    try:
        opened = open_archive(source)
    except PermissionError:
        raise
    except (OSError, ShoeboxError, EOFError, ValueError) as exc:
        return ArchiveInfo(path, size, "unreadable", format="?", problem=str(exc))
    with opened:
        try:
            return _replace(_describe(opened, size), path=path)
        except (OSError, EOFError, ValueError) as exc:
            return _replace(ArchiveInfo(path, size, "damaged"), problem=str(exc))


def _describe(opened: OpenedArchive, size: int | None) -> ArchiveInfo:
    source, archive = opened.source, opened.archive
    compression = archive.compression
    if archive.kind == "empty":
        return ArchiveInfo(source.path, size, "empty", format="empty", compression=compression)
    if archive.kind == "unknown":
        return ArchiveInfo(source.path, size, "unreadable", format="?", compression=compression,
                           problem="not a shoebox archive")
    if archive.kind == "v1":
        return _describe_v1(opened, size, compression)
    assert archive.header is not None  # a v2 file
    fields, header_len = archive.header
    info = ArchiveInfo(
        source.path,
        size,
        "sealed",
        codec=fields.get("codec") if isinstance(fields.get("codec"), str) else None,
        compression=compression,
        created=_ns(fields.get("created_ns")),
        writer=fields.get("writer") if isinstance(fields.get("writer"), str) else None,
    )
    raw = opened.raw
    if compression is None and size is not None and raw.seekable():
        end = _end_marker(raw, fields["sync"], header_len, size)
        if end is not None:
            records, end_fields = end
            return _replace(info, records=records, sealed=_ns(end_fields.get("sealed_ns")))
        raw.seek(header_len)
        return _walk(info, raw, fields["sync"], header_len, seekable=True)
    return _walk(info, archive.stream, fields["sync"], header_len, seekable=False)


def _replace(info: ArchiveInfo, **changes: Any) -> ArchiveInfo:
    return ArchiveInfo(**{**info.__dict__, **changes})


def _describe_v1(opened: OpenedArchive, size: int | None, compression: str | None) -> ArchiveInfo:
    path = opened.source.path
    records = 0
    try:
        for batch in opened.archive.batches():
            records += len(batch)
    except Exception as exc:  # damage of any kind, in compressed data too
        return ArchiveInfo(path, size, "damaged", format="v1", compression=compression,
                           records=records, problem=str(exc))
    return ArchiveInfo(path, size, "legacy", format="v1", compression=compression,
                       records=records)


def _parse_head(head: bytes, sync: bytes, offset: int = 0) -> _v2.BlockHeader | None:
    """The block header at ``offset`` of ``head`` if its sync and checksum are good."""
    try:
        return _v2.parse_block_header(head, offset, sync)
    except ValueError:
        return None


def _end_marker(
    raw: IO[bytes], sync: bytes, header_len: int, size: int
) -> tuple[int, dict[str, Any]] | None:
    """The record count and fields of a good end marker closing the file, if there is one."""
    span = min(size - header_len, _v2.END_BLOCK_SIZE_MAX + _v2.BLOCK_HEADER_SIZE)
    if span < _v2.BLOCK_HEADER_SIZE:
        return None
    raw.seek(size - span)
    tail = raw.read(span)
    at = tail.rfind(sync)
    while at >= 0:
        block = _parse_head(tail, sync, at)
        if block is not None and block.kind == _v2.KIND_END:
            body = tail[at + _v2.BLOCK_HEADER_SIZE :]
            if len(body) == block.stored and _v2.crc32c(body) == block.body_crc:
                try:
                    fields = msgpack.unpackb(body, raw=False)
                except Exception:
                    fields = {}
                return block.record_count, fields if isinstance(fields, dict) else {}
        at = tail.rfind(sync, 0, at)
    return None


def _walk(info: ArchiveInfo, stream: Any, sync: bytes, offset: int, *, seekable: bool) -> Any:
    """Count records block by block from the block headers (bodies skipped unchecked)."""
    records = 0
    while True:
        head = stream.read(_v2.BLOCK_HEADER_SIZE)
        if not head:
            state = "in progress" if info.in_progress else "truncated"
            problem = None if info.in_progress else f"no end marker (file ends at byte {offset})"
            return _replace(info, state=state, records=records, problem=problem)
        block = _parse_head(head, sync)
        if block is None:
            if len(head) < _v2.BLOCK_HEADER_SIZE and info.in_progress:
                return _replace(info, state="in progress", records=records)
            state = "truncated" if len(head) < _v2.BLOCK_HEADER_SIZE else "damaged"
            return _replace(info, state=state, records=records,
                            problem=f"bad block header at byte {offset}")
        stored, count, kind = block.stored, block.record_count, block.kind
        if seekable:
            here = stream.tell()
            stream.seek(stored, os.SEEK_CUR)
            complete = info.size is None or here + stored <= info.size
            body = b""
        else:
            body = stream.read(stored)
            complete = len(body) == stored
        if not complete:
            if info.in_progress:
                return _replace(info, state="in progress", records=records)
            return _replace(info, state="truncated", records=records,
                            problem=f"file ends inside the block at byte {offset}")
        if kind == _v2.KIND_END:
            try:
                fields = msgpack.unpackb(body, raw=False) if body else {}
            except Exception:
                fields = {}
            sealed = _ns(fields.get("sealed_ns")) if isinstance(fields, dict) else None
            return _replace(info, state="sealed", records=count, sealed=sealed)
        if kind == _v2.KIND_RECORDS:
            records += count
        offset += _v2.BLOCK_HEADER_SIZE + stored


def verify_archive(source: Source) -> Verdict:
    """Read every record of ``source``, checking every checksum; list each damaged stretch.

    An in-progress file is allowed to end inside its last block or without an end marker.
    """
    path = location(source)
    verdict = Verdict(path, in_progress=source.path.endswith(INPROGRESS_SUFFIX))

    def report(offset: int, skipped: int, reason: str) -> None:
        verdict.damage.append(Damage(path, offset, skipped, reason))

    try:
        for _ in read_archive(source, lenient=True, report=report):
            verdict.records += 1
    except PermissionError:
        raise  # a file-system problem for the caller, not damage
    except (OSError, ShoeboxError, EOFError, ValueError) as exc:
        verdict.damage.append(Damage(path, getattr(exc, "offset", None) or 0, 0,
                                     getattr(exc, "reason", None) or str(exc)))
    if verdict.in_progress and verdict.damage:
        last = verdict.damage[-1]
        size = source.size
        at_tail = size is None or last.offset + last.skipped_bytes >= size
        if at_tail and last.kind == TRUNCATED:
            verdict.damage.pop()
    return verdict
