"""Crash recovery: seal the in-progress files a killed writer left behind.

A writer holds an exclusive ``flock`` on its in-progress file until the file is sealed, so a file
whose lock can be taken belongs to a dead writer. Recovery copies the file header and every block
whose checksums are good into a new sealed file (header, blocks, end marker), gives it the final
name the writer meant (never overwriting: a taken name gets ``~001``), and only then removes the
in-progress file. Nothing is ever truncated in place, so a recovery killed half-way leaves the
in-progress file intact and the next recovery starts again from it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from .._fsutil import (
    DAMAGED_SUFFIX,
    INPROGRESS_SUFFIX,
    RESERVED_SUFFIXES,
    collision_name,
    fsync_dir,
    rename_no_clobber,
)
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ArchiveError, CorruptArchive, TruncatedArchive
from ..format import v2 as _v2
from ..ship.compress import PARTIAL_SUFFIX, _remove_stale_partials, create_partial
from ..write.archive import _write_all
from ..write.naming import RESERVING_SUFFIX

__all__ = ["Recovered", "recover_directory", "recover_file"]

log = logging.getLogger("shoebox")


@dataclass(frozen=True)
class Recovered:
    """What recovery did with one in-progress file."""

    source: str
    sealed: str | None  # the sealed file's name; None when no record could be saved
    records: int
    skipped_bytes: int
    note: str = ""


def _good_blocks(
    stream: Any, path: str, size: int
) -> tuple[dict[str, Any], bytes, list[tuple[int, bytes]], bool]:
    """Read the header and every block whose checksums are good.

    Returns ``(header_fields, header_bytes, [(record_count, block_bytes)...], was_sealed)``.
    """
    fields, header_len = _v2.read_file_header(stream, path)
    stream.seek(0)
    header = stream.read(header_len)
    sync = fields["sync"]
    source = _v2._Source(stream)
    blocks: list[tuple[int, bytes]] = []
    offset = header_len
    while True:
        head = source.read(_v2.BLOCK_HEADER_SIZE)
        if not head:
            return fields, header, blocks, False
        try:
            _sync, stored, _raw, count, kind, _codec, _flags, body_crc = (
                _v2.parse_block_header(head, 0, sync)
            )
            ok = stored <= size - offset  # never allocate more than the file holds
        except ValueError:
            ok = False
        body = source.read(stored) if ok else b""
        if ok and len(body) == stored and _v2.crc32c(body) == body_crc:
            offset += len(head) + stored
            if kind == _v2.KIND_END:
                return fields, header, blocks, True
            if kind == _v2.KIND_RECORDS:
                blocks.append((count, head + body))
            continue
        skipped, pending = _v2._resync(source, (head + body)[1:], sync)
        if pending is None:
            return fields, header, blocks, False
        offset += skipped + 1
        source.pending = pending + source.pending


def _final_name(path: str, fields: dict[str, Any] | None) -> str:
    base = path[: -len(INPROGRESS_SUFFIX)]
    name = fields.get("name") if fields else None
    # The header's name is a hint (a file saved again after its directory was removed keeps it):
    # never one leaving the directory, hidden, or ending like a file of our own.
    if (isinstance(name, str) and name and "/" not in name and "\x00" not in name
            and not name.startswith(".") and not name.endswith(RESERVED_SUFFIXES)):
        return os.path.join(os.path.dirname(path), name)
    return base


def recover_file(path: str, *, clock: Clock | None = None) -> Recovered | None:
    """Seal one in-progress file; None if its writer is still alive (it holds the lock)."""
    clock = clock or SYSTEM_CLOCK
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live writer
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                return None  # sealed and renamed by its writer meanwhile
        except FileNotFoundError:
            return None
        size = os.fstat(fd).st_size
        with os.fdopen(os.dup(fd), "rb") as stream:
            try:
                fields, header, blocks, was_sealed = _good_blocks(stream, path, size)
            except TruncatedArchive:
                fields = None  # cut inside the header, written before any record: nothing to save
                header, blocks, was_sealed = b"", [], False
            except CorruptArchive as exc:
                return _set_aside(path, f"file header unreadable: {exc.reason}")
        records = sum(count for count, _ in blocks)
        kept = len(header) + sum(len(block) for _, block in blocks)
        skipped = size - kept if not was_sealed else 0
        if not blocks:
            os.unlink(path)
            fsync_dir(os.path.dirname(path))
            return Recovered(path, None, 0, skipped, "no complete block: removed")
        final = _final_name(path, fields)
        assert fields is not None
        # We hold the in-progress file's lock: partial copies of it are a killed recovery's, and
        # a sealed file starting with its very header (its sync marker) is one's finished copy.
        _remove_stale_partials(final)
        earlier = _earlier_copy(final, header)
        if earlier is not None:
            os.unlink(path)
            fsync_dir(os.path.dirname(path))
            log.warning("shoebox: %s was already sealed as %s by an earlier recovery", path,
                        earlier)
            return Recovered(path, earlier, records, skipped, "sealed by an earlier recovery")
        try:
            sealed = _seal_copy(final, header, blocks, fields["sync"], records, clock)
        except OSError as exc:
            raise ArchiveError(
                f"cannot seal a recovered copy of it as {final} ({exc.strerror or exc}); it stays "
                "in progress, untouched, for the next recovery",
                path=path,
            ) from exc
        os.unlink(path)
        fsync_dir(os.path.dirname(path))
        note = "was already sealed" if was_sealed else "sealed after a crash"
        log.warning("shoebox: recovered %s as %s (%d records, %d bytes skipped)", path, sealed,
                    records, skipped)
        return Recovered(path, sealed, records, skipped, note)
    finally:
        os.close(fd)


def _seal_copy(final: str, header: bytes, blocks: list[tuple[int, bytes]], sync: bytes,
               records: int, clock: Clock) -> str:
    """Write the header, the good blocks and an end block to a partial file, fsync it, and give
    it the final name (never overwriting); return that name."""
    out_fd, temp = create_partial(final)
    try:
        end = _v2.encode_end_block(
            sync, records,
            {"sealed_ns": int(clock.time() * 1e9), "blocks": len(blocks), "recovered": True},
        )
        _write_all(out_fd, [header, *(block for _, block in blocks), end])
        os.fsync(out_fd)
    except BaseException:
        os.close(out_fd)
        os.unlink(temp)
        raise
    os.close(out_fd)
    return rename_no_clobber(temp, final)


def _earlier_copy(final: str, header: bytes) -> str | None:
    """``final`` or one of its collision names, if it starts with ``header`` (the same archive:
    the header holds the archive's random sync marker)."""
    for n in range(1000):
        name = collision_name(final, n)
        try:
            with open(name, "rb") as f:
                if f.read(len(header)) == header:
                    return name
        except FileNotFoundError:
            return None
        except OSError:
            continue
    return None


def _set_aside(path: str, reason: str) -> Recovered:
    """A file we cannot parse is renamed ``.damaged`` (kept for inspection, no longer pending)."""
    target = rename_no_clobber(path, path[: -len(INPROGRESS_SUFFIX)] + DAMAGED_SUFFIX)
    log.error("shoebox: cannot recover %s (%s); kept as %s", path, reason, target)
    return Recovered(path, None, 0, os.path.getsize(target), f"{reason}; kept as {target}")


def recover_directory(
    directory: str, *, pattern: re.Pattern[str] | None = None, clock: Clock | None = None
) -> list[Recovered]:
    """Recover every in-progress file of dead writers in ``directory``.

    ``pattern`` (e.g. ``TemplateNamer.regex()``) limits recovery to names it fully matches, once
    the in-progress suffix and any ``~NNN`` collision marker are removed.
    """
    results = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    for name in names:
        if not name.endswith(INPROGRESS_SUFFIX) or name.endswith(PARTIAL_SUFFIX):
            continue
        if pattern is not None:
            base = re.sub(r"~\d{3,}(?=\.[^.]*$|$)", "", name[: -len(INPROGRESS_SUFFIX)])
            if not pattern.fullmatch(base):
                continue
        done = recover_file(os.path.join(directory, name), clock=clock)
        if done is not None:
            results.append(done)
    for name in names:
        if name.startswith(".") and name.endswith(RESERVING_SUFFIX):
            _remove_dead_reservation(os.path.join(directory, name))
    return results


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_reservation(path: str) -> None:
    """A writer killed while reserving a name leaves an empty hidden file: remove it, unless its
    writer (the pid in the name) is alive: it creates the file a moment before it locks it."""
    try:
        pid = int(os.path.basename(path)[: -len(RESERVING_SUFFIX)].rsplit(".", 2)[1])
    except (IndexError, ValueError):
        return
    if _pid_alive(pid):
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    else:
        os.unlink(path)
    finally:
        os.close(fd)
