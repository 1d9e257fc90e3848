"""File access for :class:`~shoebox_store.filesystem.FileSystemStore`: a local directory through
``os`` (fast, with snapshot reads), anything else through an fsspec filesystem."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

__all__ = ["FsspecIO", "LimitedStream", "LocalIO", "make_io"]


class LimitedStream(io.RawIOBase):
    """At most ``length`` bytes of ``raw`` (from where it stands); closes ``raw`` with itself."""

    def __init__(self, raw: Any, length: int) -> None:
        super().__init__()
        self._raw = raw
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._left <= 0 or not len(view):
            return 0
        n = min(len(view), self._left)
        data = self._raw.read(n)
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _PreadStream(io.RawIOBase):
    """Bytes ``start:end`` of an open file, read with ``pread`` (a position of its own)."""

    def __init__(self, snapshot: _Snapshot, start: int, end: int) -> None:
        super().__init__()
        self._snapshot = snapshot  # keeps the file open while this stream lives
        self._at = start
        self._end = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._end - self._at)
        if n <= 0:
            return 0
        got = os.preadv(self._snapshot.f.fileno(), [view[:n]], self._at)  # straight into it
        self._at += got
        return got


class _Snapshot:
    """An open file kept for one ``get``: every stream of the value reads this same file, even
    if the key is replaced meanwhile (closed with the last stream or value using it)."""

    def __init__(self, f: Any, size: int) -> None:
        self.f = f
        self.size = size

    def open(self, start: int, end: int) -> BinaryIO:
        return io.BufferedReader(_PreadStream(self, start, end))  # type: ignore[return-value]


class _BytesSnapshot:
    """A small file's content, read at once."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def open(self, start: int, end: int) -> BinaryIO:
        return io.BytesIO(self.data[start:end])


_SMALL = 64 * 1024


class LocalIO:
    """A local directory (``fsync=True``: every file is synced before it is renamed)."""

    local = True
    #: A file being written is visible under its name before it is whole.
    atomic_writes = False

    def __init__(self, root: str, *, fsync: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.fsync = fsync

    def path(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def read_many(self, paths: list[str]) -> Iterator[bytes | None]:
        """The content of each file (None for a missing one), in order."""
        for path in paths:
            try:
                yield self.read_bytes(path)
            except FileNotFoundError:
                yield None

    def read_with_token(self, path: str) -> tuple[bytes, Any]:
        """The content of ``path`` and its :meth:`token`, from the one file opened."""
        with open(path, "rb", buffering=0) as f:
            st = os.fstat(f.fileno())
            return f.readall(), (st.st_ino, st.st_mtime_ns, st.st_size)

    def token(self, path: str) -> Any:
        """What changes when ``path`` is replaced (None when it is missing)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def snapshot(self, path: str) -> tuple[Any, float]:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 (kept by the snapshot)
        st = os.fstat(f.fileno())
        if st.st_size <= _SMALL:  # read small files at once: one read, no file kept open
            with f:
                return _BytesSnapshot(f.readall()), st.st_mtime
        return _Snapshot(f, st.st_size), st.st_mtime

    def mtime(self, path: str) -> float:
        return os.stat(path).st_mtime

    def write(self, path: str, payload: Any) -> None:
        """Create ``path`` (a new temporary name) holding ``payload``: bytes, or chunks."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            if isinstance(payload, bytes):
                _write_all(fd, payload)
            else:
                for chunk in payload:
                    _write_all(fd, chunk)
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)

    def replace(self, source: str, target: str) -> None:
        os.replace(source, target)
        if self.fsync:
            _fsync_dir(os.path.dirname(target))

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def walk(self) -> Iterator[str]:
        """Every file below the root, as ``/``-separated paths relative to it."""
        for directory, dirs, files in os.walk(self.root):
            dirs.sort()
            relative = os.path.relpath(directory, self.root)
            prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for name in sorted(files):
                yield prefix + name


class FsspecIO:
    """Any fsspec filesystem (``s3://``, ``swift://``, ``memory://``...)."""

    local = False
    #: An object appears only once it is whole (a PUT, a completed multipart upload).
    atomic_writes = True

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def isdir(self, path: str) -> bool:
        return bool(self.fs.isdir(path))

    def read_bytes(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def read_many(self, paths: list[str]) -> Iterator[bytes | None]:
        """The content of each object (None for a missing one), fetched concurrently where the
        filesystem can, a batch at a time."""
        for at in range(0, len(paths), 256):
            batch = paths[at: at + 256]
            found = self.fs.cat(batch, on_error="return") if batch else {}
            if len(batch) == 1 and not isinstance(found, dict):
                found = {batch[0]: found}
            for path in batch:
                got = found.get(path, found.get(self.fs._strip_protocol(path)))
                yield bytes(got) if isinstance(got, (bytes, bytearray)) else None

    def read_with_token(self, path: str) -> tuple[bytes, Any]:
        return self.read_bytes(path), None

    def token(self, path: str) -> Any:
        return None  # no cheap identity for an object: the marker checks must do

    def snapshot(self, path: str) -> tuple[Any, float]:
        info = self.fs.info(path)
        return _RemoteFile(self.fs, path, int(info.get("size") or 0)), _mtime(info)

    def mtime(self, path: str) -> float:
        return _mtime(self.fs.info(path))

    def write(self, path: str, payload: Any) -> None:
        if isinstance(payload, bytes):
            self.fs.pipe_file(path, payload)
            return
        with self.fs.open(path, "wb") as out:
            for chunk in payload:
                out.write(chunk)

    def replace(self, source: str, target: str) -> None:
        # A server-side copy (atomic for readers of ``target``), then the source goes.
        self.fs.copy(source, target)
        self.fs.rm_file(source)

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def walk(self) -> Iterator[str]:
        self.fs.invalidate_cache(self.root)
        cut = len(self.root) + 1
        for path in sorted(self.fs.find(self.root)):
            yield path[cut:]


class _RemoteFile:
    def __init__(self, fs: Any, path: str, size: int) -> None:
        self.fs = fs
        self.path = path
        self.size = size

    def open(self, start: int, end: int) -> BinaryIO:
        raw = self.fs.open(self.path, "rb")
        raw.seek(start)
        return LimitedStream(raw, end - start)  # type: ignore[return-value]


def _mtime(info: dict[str, Any]) -> float:
    for name in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_io(location: str, storage_options: dict[str, Any] | None = None,
            *, fsync: bool = False) -> LocalIO | FsspecIO:
    """The file access for ``location``: a local path (or ``file://`` URL) or an fsspec URL."""
    location = os.fspath(location)
    if "://" not in location or location.startswith("file://"):
        if storage_options:
            raise ValueError(f"storage_options are for URLs, not the local path {location!r}")
        return LocalIO(location.removeprefix("file://"), fsync=fsync)
    import fsspec.core

    fs, root = fsspec.core.url_to_fs(location, **(storage_options or {}))
    return FsspecIO(fs, root)
