"""A zip destination held by one collector: its lock, its index and the append in progress.

Every entry carries, in its zip comment, the SHA-256 of its content and the name it was staged
under (``{"sha256": ..., "staged": ...}``), so the destination itself says what it holds: an
entry staged again with the same content is found there ("already present"), one with new content
under a taken name is stored as ``stem~<first 12 hex digits of its SHA-256>.ext`` ("renamed").
Entries of zip files not written by us (no such comment) are hashed when a name clashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import zipfile
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

from ._core import fsync_dir
from ._layout import Layout, try_lock
from ._records import StagedEntry
from .destination import part_name, part_number
from .journal import Journal, PartBefore, undo

__all__ = ["COMPRESSIONS", "ZipDestination"]

#: Accepted values of ``compression``.
COMPRESSIONS = {"deflate": zipfile.ZIP_DEFLATED, "stored": zipfile.ZIP_STORED}
_READ = 1024 * 1024
# The attribute holding one entry's compression level (renamed in Python 3.13).
_LEVEL = "compress_level" if hasattr(zipfile.ZipInfo, "compress_level") else "_compresslevel"


def _date_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    t = time.localtime(mtime_ns / 1e9)
    if t.tm_year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _unix_time_extra(mtime_ns: int) -> bytes:
    # The "UT" extended timestamp (0x5455): the exact UTC modification time unzip restores.
    seconds = max(-(2**31), min(2**31 - 1, mtime_ns // 1_000_000_000))
    return struct.pack("<HHBl", 0x5455, 5, 1, seconds)


def _staged_by_us(info: zipfile.ZipInfo) -> tuple[str, str] | None:
    if not info.comment.startswith(b'{"sha256"'):
        return None
    try:
        note = json.loads(info.comment)
        return str(note["staged"]), str(note["sha256"])
    except (ValueError, KeyError, TypeError):
        return None


class ZipDestination:
    """One destination archive (all its parts), locked by this collector until released."""

    def __init__(self, layout: Layout, archive: str, lock_fd: int, *, max_bytes: int,
                 compression: str = "deflate", compresslevel: int | None = None) -> None:
        self.layout = layout
        self.archive = archive
        self._lock_fd = lock_fd
        self.max_bytes = int(max_bytes)
        self.compression = COMPRESSIONS[compression]
        self.compresslevel = compresslevel
        self.journal = Journal(layout.journal, archive, layout.base)
        self.parts: list[str] = []  # file names under base, part 1 first
        self._staged: dict[tuple[str, str], str] = {}  # (staged name, sha256) -> stored name
        self._stored: dict[str, tuple[int, str | None]] = {}  # stored name -> (part index, sha)
        self._zip: zipfile.ZipFile | None = None
        self._fp: Any = None
        self._cd_bytes = 0
        self._in_part = 0
        self._last_part = 0
        #: Parts this append created.
        self.created: list[str] = []
        #: Paths of parts restored by undoing a killed collector's append, when acquired.
        self.restored: list[str] = []

    @classmethod
    def acquire(cls, layout: Layout, archive: str, **options: Any) -> ZipDestination | None:
        """Lock ``archive`` without waiting (None when another collector holds it), undo a
        killed collector's torn append, and read what every part holds."""
        fd = try_lock(os.path.join(layout.locks, archive + ".lock"))
        if fd is None:
            return None
        try:
            self = cls(layout, archive, fd, **options)
            self.restored = undo(layout.journal, archive, layout.base)
            self._load()
        except BaseException:
            os.close(fd)
            raise
        return self

    def _load(self) -> None:
        numbered = []
        for name in os.listdir(self.layout.base):
            number = part_number(self.archive, name)
            if number is not None:
                numbered.append((number, name))
        self.parts = [name for _, name in sorted(numbered)]
        self._last_part = max((number for number, _ in numbered), default=0)
        for index, name in enumerate(self.parts):
            with zipfile.ZipFile(os.path.join(self.layout.base, name)) as zf:
                for info in zf.infolist():
                    self._note(info, index)

    def _note(self, info: zipfile.ZipInfo, part: int) -> None:
        ours = _staged_by_us(info)
        if ours is None:
            self._stored[info.filename] = (part, None)
        else:
            self._stored[info.filename] = (part, ours[1])
            self._staged[ours] = info.filename

    # -- adding ----------------------------------------------------------------------------
    def find(self, entry: StagedEntry) -> str | None:
        """The stored name of ``entry`` if the destination holds it (same name, same content)."""
        name, sha = entry.dest.name, entry.sha256
        found = self._staged.get((name, sha))
        if found is None and name in self._stored and self._stored[name][1] is None:
            part, _ = self._stored[name]
            digest = self._hash_foreign(part, name)
            self._stored[name] = (part, digest)
            self._staged[(name, digest)] = name
            found = self._staged.get((name, sha))
        return found

    def _hash_foreign(self, part: int, name: str) -> str:
        digest = hashlib.sha256()
        with ExitStack() as stack:
            if self._zip is not None and part == len(self.parts) - 1:
                zf = self._zip  # the part being appended to: its old directory is overwritten
            else:
                path = os.path.join(self.layout.base, self.parts[part])
                zf = stack.enter_context(zipfile.ZipFile(path))
            source = stack.enter_context(zf.open(name))
            while block := source.read(_READ):
                digest.update(block)
        return digest.hexdigest()

    def free_name(self, name: str, sha: str) -> str:
        """``name``, or the name a different content staged under ``name`` is stored as."""
        if name not in self._stored:
            return name
        folder, _, leaf = name.rpartition("/")
        stem, ext = os.path.splitext(leaf)
        if not stem:  # ".profile"
            stem, ext = leaf, ""
        prefix = folder + "/" if folder else ""
        for tag in (sha[:12], sha, *(f"{sha}-{n}" for n in range(2, 10_000))):
            candidate = f"{prefix}{stem}~{tag}{ext}"
            if candidate not in self._stored:
                return candidate
        raise RuntimeError(f"no free name for {name!r} in {self.archive}")

    def add(self, entry: StagedEntry, stored: str, chunks: Iterable[bytes]) -> None:
        """Write ``entry`` as ``stored`` (from :meth:`free_name`), its content from ``chunks``."""
        # The JSON object {"sha256": ..., "staged": ...}, formatted by hand (json.dumps of the
        # whole dict costs more than the rest of this method).
        staged = json.dumps(entry.dest.name, ensure_ascii=False)
        comment = f'{{"sha256": "{entry.sha256}", "staged": {staged}}}'.encode()
        extra = _unix_time_extra(entry.mtime_ns)
        estimate = (entry.size + entry.size // 1000 + 200 + 2 * len(stored.encode())
                    + 2 * len(extra) + len(comment))
        zf = self._writable(estimate)
        info = zipfile.ZipInfo(stored, date_time=_date_time(entry.mtime_ns))
        info.compress_type = self.compression
        setattr(info, _LEVEL, self.compresslevel)
        info.external_attr = (entry.mode & 0xFFFF) << 16
        info.create_system = 3
        info.extra = extra
        info.comment = comment
        info.file_size = entry.size  # lets zipfile choose ZIP64 for large entries up front
        with zf.open(info, "w") as out:
            for block in chunks:
                out.write(block)
        self._cd_bytes += 46 + 24 + len(stored.encode()) + len(extra) + len(comment)
        self._in_part += 1
        self._stored[stored] = (len(self.parts) - 1, entry.sha256)
        self._staged[(entry.dest.name, entry.sha256)] = stored

    def _writable(self, estimate: int) -> zipfile.ZipFile:
        """The open last part, rolled to a new part if ``estimate`` more bytes would pass the
        cap (a part always takes at least one entry)."""
        if self._zip is None:
            self._begin(self.parts[-1] if self.parts else None)
        assert self._zip is not None and self._fp is not None
        if self._in_part and self._fp.tell() + self._cd_bytes + estimate > self.max_bytes:
            self._finish_part()
            self._begin(None)
        return self._zip

    def _begin(self, name: str | None) -> None:
        """Open part ``name`` for appending, or a new part, after journaling how to undo it."""
        fp: Any  # closed by _finish_part() or discard()
        if name is not None:
            path = os.path.join(self.layout.base, name)
            fp = open(path, "r+b")
            try:
                zf = zipfile.ZipFile(fp, "a", allowZip64=True)
                cd_offset = zf.start_dir
                old_size = os.fstat(fp.fileno()).st_size
                fp.seek(cd_offset)
                tail = fp.read(old_size - cd_offset)
                fp.seek(cd_offset)
                self.journal.record(PartBefore(name, old_size, cd_offset, tail))
            except BaseException:
                fp.close()
                raise
            self._cd_bytes = len(tail)
            self._in_part = len(zf.infolist())
        else:
            self._last_part += 1
            name = part_name(self.archive, self._last_part)
            self.journal.record(PartBefore(name, 0))
            fp = open(os.path.join(self.layout.base, name), "xb")
            zf = zipfile.ZipFile(fp, "w", allowZip64=True)
            self.parts.append(name)
            self.created.append(name)
            self._cd_bytes = 22
            self._in_part = 0
        self._zip, self._fp = zf, fp

    def _finish_part(self) -> None:
        assert self._zip is not None
        self._zip.close()  # writes the new central directory
        self._fp.flush()
        os.fsync(self._fp.fileno())
        self._fp.close()
        self._zip = self._fp = None

    # -- ending ----------------------------------------------------------------------------
    def commit(self) -> None:
        """Make the append durable, forget its journal and release the lock.

        If this raises, the lock is still held: :meth:`discard` undoes the append and releases it.
        """
        if self._zip is not None:
            self._finish_part()
            fsync_dir(self.layout.base)
        self.journal.commit()
        self._unlock()

    def discard(self) -> None:
        """Give up the append: the destination goes back to what it was; release the lock."""
        try:
            if self._zip is not None:
                # ZipFile.close() would write a central directory after a half-written entry.
                self._zip.fp = None
                self._fp.close()
                self._zip = self._fp = None
            if self.journal.exists():
                self.journal.undo()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __repr__(self) -> str:
        return f"ZipDestination({self.archive!r}, parts={self.parts!r})"
