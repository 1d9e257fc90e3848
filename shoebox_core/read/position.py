"""Where a reader is: positions (checkpoints) and reading one archive on from a position.

A position names the last record a reader returned by the archive's *identity* (the v2 header's
random sync marker, which survives renames and compression), the byte offset of a block in the
archive's decompressed bytes, and how many records after that block's start were returned. It is a
small JSON object::

    {"archive": "9f0c...", "created_ns": 1764770000000000000, "seq": 3,
     "name": "events_000003.events", "block": 4711, "index": 12}

``created_ns`` and ``seq`` place the archive in write order when it is gone (then reading resumes
with the next one); ``name`` is only what it was called. :func:`read_blocks` reads an archive from
such a block on, and stops quietly at the incomplete tail of a file still being written.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO, cast

import zstandard

from ..errors import TRUNCATED, ConfigError, CorruptArchive, TruncatedArchive
from .sources import OpenedArchive, Source, open_archive

__all__ = ["Gap", "Position", "load_position", "read_blocks", "read_source", "save_position"]

Record = tuple[dict[str, str], "str | bytes"]
Report = Callable[[int, int, str], None]
# A batch of records and where it is: (block offset, records since that block before these).
Batch = tuple[int, int, Sequence[Record]]

_DISCARD = 1 << 20
# What gzip and zstandard raise on damaged or cut-short data.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError
)
_HEADER_ERRORS: tuple[type[BaseException], ...] = (CorruptArchive, *_DECODE_ERRORS)


@dataclass(frozen=True)
class Position:
    """The last record a reader returned: ``index`` records after the block at byte ``block`` of
    the archive whose identity is ``archive`` (see the module's docstring)."""

    archive: str
    created_ns: int
    seq: int
    name: str
    block: int
    index: int

    @property
    def key(self) -> tuple[int, int, str]:
        """Its archive's place in write order (as :class:`~.follow.Follower` sorts archives)."""
        return (self.created_ns, self.seq, self.name)

    def to_json(self) -> dict[str, Any]:
        """The JSON-serialisable value ``reader.position`` returns."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any, where: str = "start_after") -> Position:
        """A position from :meth:`to_json`'s value; :class:`ConfigError` naming ``where`` and the
        field when it is not one."""
        if isinstance(value, Position):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: a position is a JSON object, not {type(value).__name__}")
        fields: dict[str, Any] = {}
        for name, kind in (("archive", str), ("created_ns", int), ("seq", int), ("name", str),
                           ("block", int), ("index", int)):
            item = value.get(name)
            if not isinstance(item, kind) or isinstance(item, bool) or (
                isinstance(item, int) and item < 0
            ):
                raise ConfigError(f"{where}: position field {name!r} must be "
                                  f"{'a non-negative integer' if kind is int else 'a string'}, "
                                  f"not {item!r}")
            fields[name] = item
        return cls(**fields)


@dataclass(frozen=True)
class Gap:
    """Records a reader could not return: the archive was moved, shipped or deleted before it
    was read to its end (from ``block`` on), or a checkpoint's archive is gone."""

    path: str
    archive: str
    block: int
    reason: str


def save_position(path: str, position: dict[str, Any] | None) -> None:
    """Write ``position`` to ``path`` atomically (a temporary file, fsync, rename): a crash
    leaves the old checkpoint or the new one, never a torn one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".checkpoint-", dir=directory)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(position, out)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def load_position(path: str) -> Position | None:
    """The position saved in ``path``; None when the file does not exist or holds ``null`` (no
    record read yet). A file that is not a position: :class:`ConfigError` naming it."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"checkpoint {path}: not JSON ({exc})") from None
    return None if value is None else Position.from_json(value, f"checkpoint {path}")


class _Counted:
    """A forward-only stream that counts the bytes read from it."""

    def __init__(self, stream: Any, pos: int) -> None:
        self.stream = stream
        self.pos = pos

    def readinto(self, view: memoryview) -> int:
        n: int = self.stream.readinto(view)
        self.pos += n or 0
        return n

    def read(self, n: int) -> bytes:
        data: bytes = self.stream.read(n)
        self.pos += len(data)
        return data


def _skip_to(opened: OpenedArchive, start: int) -> Any:
    """The archive's decompressed stream, at byte ``start`` (past the header)."""
    stream = opened.archive.stream
    at = opened.archive.header.length  # type: ignore[union-attr]
    if start <= at:
        return stream
    if opened.archive.compression is None and opened.raw.seekable():
        opened.raw.seek(start)
        return opened.raw
    while at < start:  # a compressed file: decompress up to there
        data = stream.read(min(_DISCARD, start - at))
        if not data:
            break
        at += len(data)
    return stream


def read_blocks(
    opened: OpenedArchive,
    *,
    block: int | None = None,
    skip: int = 0,
    lenient: bool = False,
    report: Report | None = None,
    in_progress: bool = False,
) -> Generator[Batch, None, int | None]:
    """The records of ``opened`` from the block at byte ``block`` on (the first block if None),
    leaving out the first ``skip`` of them, a batch at a time with where it is (:data:`Batch`).

    Returns None once the archive was read to its end marker (or, for a file of another kind, to
    its end), or the offset where the incomplete tail of an ``in_progress`` file starts: such a
    file ends quietly at its last complete block. Damage is raised or, leniently, reported, as
    :meth:`~shoebox_core.format.detect.ArchiveStream.batches` does.
    """
    archive = opened.archive
    if archive.header is None:  # v1, empty or unknown: counted by records, from the start
        done = 0
        for batch in archive.batches(lenient=lenient, report=report):
            if done + len(batch) > skip:
                cut = max(skip - done, 0)
                yield 0, done + cut, batch[cut:]
            done += len(batch)
        return None
    from ..format.blocks import iter_blocks

    first = archive.header.length
    start = first if block is None or block < first else block
    counter = _Counted(_skip_to(opened, start), start)
    base, since, exact = start, 0, True
    tail: int | None = None

    def on_damage(offset: int, skipped: int, reason: str) -> None:
        nonlocal base, since, exact, tail
        if in_progress and getattr(reason, "kind", None) == TRUNCATED:
            tail = offset  # where the writer goes on: not damage
            return
        # Past a resync the stream has been read ahead: count records from the next block.
        base, since, exact = offset + skipped, 0, False
        if report is not None:
            report(offset, skipped, reason)

    batches = iter_blocks(cast(BinaryIO, counter), opened.source.path, lenient=lenient,
                          report=on_damage, header=archive.header,
                          start=None if start == first else start)
    end = start  # where the block just read ends, while the count is exact
    try:
        for batch in batches:
            if exact:
                base, since = end, 0
                end = counter.pos
            count = len(batch)
            if skip >= count:
                skip -= count
            else:
                yield base, since + skip, batch[skip:] if skip else batch
                skip = 0
            since += count
    except CorruptArchive as exc:
        if lenient and archive.compression is not None:
            # FORMAT.md: damage in a whole-file compressed stream ends the reading there (as
            # ArchiveStream.batches reports it).
            if report is not None:
                report(exc.offset or 0, 0, exc.reason)
            return None
        if not in_progress or not isinstance(exc, TruncatedArchive):
            raise
        return exc.offset or start
    finally:
        batches.close()  # type: ignore[attr-defined]  # a generator
    return tail


def read_source(
    source: Source,
    *,
    block: int | None = None,
    skip: int = 0,
    lenient: bool = False,
    report: Report | None = None,
    in_progress: bool = False,
) -> Generator[Batch, None, int | None]:
    """:func:`read_blocks` of the archive ``source`` names, opened (:func:`~.sources.open_archive`)
    and closed here. A damaged header, or damaged or cut-short gzip / zstd data, is raised as
    :class:`CorruptArchive` naming the file and offset or, leniently, reported (one bad file does
    not stop the files after it). An ``in_progress`` file whose header is not all written yet
    has a tail at byte 0."""
    try:
        opened = open_archive(source)
    except _HEADER_ERRORS as exc:
        if in_progress and isinstance(exc, TruncatedArchive):
            return 0
        problem = exc if isinstance(exc, CorruptArchive) else _decode_problem(exc, source, 0)
        if not lenient:
            if problem is exc:
                raise
            raise problem from exc
        if report is not None:
            report(problem.offset or 0, source.size or 0, problem.reason)
        return None
    try:
        return (yield from read_blocks(opened, block=block, skip=skip, lenient=lenient,
                                       report=report, in_progress=in_progress))
    except _DECODE_ERRORS as exc:
        # Damaged or cut-short gzip / zstd data: report it like any damage, with the offset
        # reached in the compressed file.
        try:
            offset = opened.raw.tell()
        except (OSError, ValueError):
            offset = 0
        problem = _decode_problem(exc, source, offset)
        if not lenient:
            raise problem from exc
        if report is not None:
            report(offset, max((source.size or 0) - offset, 0), problem.reason)
        return None
    finally:
        opened.close()


def _decode_problem(exc: BaseException, source: Source, offset: int) -> CorruptArchive:
    kind = TruncatedArchive if isinstance(exc, EOFError) else CorruptArchive
    return kind(f"compressed data unreadable: {exc}", path=source.path, offset=offset)
