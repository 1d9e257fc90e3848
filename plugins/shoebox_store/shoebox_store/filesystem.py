"""encore's ``FileSystemStore``: each value is ``<key>.data`` plus ``<key>.metadata`` (UTF-8 JSON)
under a directory holding a magic file, locally or at any fsspec URL. Stores made by encore open
unchanged, and encore reads what this writes.

What changed from encore (its defects, fixed):

* A set is all or nothing, for readers and for a crash. Both files are written under temporary
  names first (``.<name>.<token>.data.tmp`` / ``.metadata.tmp``). A new key's data file is renamed
  into place before its metadata file, whose appearance makes the key exist. Replacing a key
  writes a marker ``.<name>.pending`` naming the two temporary files: once it exists the new
  value is the committed one (readers take the temporary files while they are there), and the
  renames that follow can be finished by the next writer of that key after a crash.
* ``update_metadata`` merges, and raises ``KeyError`` for a missing key.
* Keys with ``/`` create their directories, and ``glob``, ``query`` and ``query_keys`` see them.
* Keys with ``..``, ``.`` or empty segments, or absolute keys, are refused before anything is
  written.
* Opening and reading a store write nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

from ._fsio import FsspecIO, LocalIO, make_io
from .base import BaseStore
from .errors import NotAStore
from .keys import check_key
from .value import Value

__all__ = ["FileSystemStore", "init_shared_store"]

MAGIC_CONTENT = b"__version__ = 0\n"
_RETRIES = 20


def init_shared_store(path: str, magic_fname: str = ".FSStore", *,
                      storage_options: dict[str, Any] | None = None) -> None:
    """Make ``path`` (a local directory, created if missing, or a URL) a store by writing the
    magic file, as encore did. An existing store is left as it is."""
    fsio = make_io(path, storage_options)
    magic = fsio.path(magic_fname)
    if fsio.exists(magic):
        return
    if fsio.atomic_writes:  # an object appears whole or not at all
        fsio.write(magic, MAGIC_CONTENT)
        return
    if isinstance(fsio, LocalIO):
        os.makedirs(fsio.root, exist_ok=True)
    temp = fsio.path(f".{magic_fname}.{uuid.uuid4().hex[:12]}.tmp")
    fsio.write(temp, MAGIC_CONTENT)
    fsio.replace(temp, magic)


class _Paths:
    """The files of one key."""

    __slots__ = ("data", "directory", "marker", "metadata", "name")

    def __init__(self, fsio: LocalIO | FsspecIO, key: str) -> None:
        directory, _, name = key.rpartition("/")
        self.directory = fsio.path(directory) if directory else fsio.root
        self.name = name
        self.data = fsio.path(key + ".data")
        self.metadata = fsio.path(key + ".metadata")
        self.marker = self.sibling(f".{name}.pending")

    def sibling(self, name: str) -> str:
        return f"{self.directory}/{name}"


class FileSystemStore(BaseStore):
    """encore.storage's ``FileSystemStore`` over a local directory or an fsspec URL.

    :param path: the store's root: a directory, or a URL such as ``s3://bucket/prefix``,
        ``swift://container/prefix`` or ``memory://x``. It must hold the magic file.
    :param magic_fname: the magic file's name (``.FSStore``, as in encore).
    :param storage_options: options of the fsspec filesystem (endpoint, credentials...).
    :param fsync: sync each file before renaming it (durable across power loss, slower).
    """

    kind = "filesystem"

    def __init__(self, path: str, magic_fname: str = ".FSStore", *,
                 storage_options: dict[str, Any] | None = None, fsync: bool = False) -> None:
        super().__init__()
        self.location = os.fspath(path)
        self.magic_fname = magic_fname
        self._io = make_io(self.location, storage_options, fsync=fsync)
        if not self._io.exists(self._io.path(magic_fname)):
            what = "does not exist" if not self._io.isdir(self._io.root) else (
                f"has no magic file {magic_fname!r}")
            raise NotAStore(f"{self.location} is not a FileSystemStore: it {what} "
                            "(init_shared_store or `shoebox store init` makes one)",
                            path=self.location)

    def info(self) -> dict[str, Any]:
        """Facts about the store (``type``, ``version``, ``location``...)."""
        return {**super().info(), "version": 0, "location": self.location,
                "magic_fname": self.magic_fname}

    def __repr__(self) -> str:
        return f"FileSystemStore({self.location!r})"

    # -- reading -------------------------------------------------------------------------------

    def _marker(self, paths: _Paths) -> tuple[str, str] | None:
        """The temporary files of a committed, unfinished replacement of the key, if any."""
        if not self._io.exists(paths.marker):  # a stat: cheaper than a failed open
            return None
        try:
            text = self._io.read_bytes(paths.marker)
        except FileNotFoundError:
            return None
        try:
            found = json.loads(text)
            return paths.sibling(found["data"]), paths.sibling(found["metadata"])
        except (ValueError, KeyError, TypeError):
            return None  # being written: not committed yet

    def _current(self, paths: _Paths) -> tuple[str, str, Any]:
        """The data and metadata files holding the key's committed value."""
        marker = self._marker(paths)
        if marker is None:
            return paths.data, paths.metadata, None
        data, metadata = marker
        return (data if self._io.exists(data) else paths.data,
                metadata if self._io.exists(metadata) else paths.metadata, marker)

    def _read(self, key: str, *, with_data: bool) -> tuple[str, Any, float, str]:
        """The metadata text, a snapshot of the data file (if asked), the modification time and
        the metadata file of the key's committed value."""
        paths = _Paths(self._io, key)
        marker = None
        for _ in range(_RETRIES):
            if marker is None:
                # Most reads: no replacement under way. The marker is checked once, after the
                # files are read: it is removed only after both files are in place, so its
                # absence then, with the metadata file unchanged, proves both are one value.
                data_path, meta_path = paths.data, paths.metadata
            else:
                data_path, meta_path, marker = self._current(paths)
            try:
                text, before = self._io.read_with_token(meta_path)
            except FileNotFoundError:
                was, marker = marker, self._marker(paths)
                if was is None and marker is None and not self._io.exists(paths.marker):
                    raise KeyError(key) from None
                continue  # a temporary file we were sent to was renamed meanwhile
            snapshot, mtime = None, 0.0
            if with_data:
                try:
                    snapshot, mtime = self._io.snapshot(data_path)
                except FileNotFoundError:
                    was, marker = marker, self._marker(paths)
                    if was is not None or marker is not None or self._io.exists(paths.marker):
                        continue
                    mtime = self._io.mtime(meta_path)  # metadata without data: an empty value
            now = self._marker(paths)
            if now != marker or self._io.token(meta_path) != before:
                marker = now
                continue  # replaced while we read: read again
            return text.decode("utf-8", "replace"), snapshot, mtime, meta_path
        raise OSError(f"key {key!r} kept changing while it was read ({_RETRIES} attempts)")

    def _lookup(self, key: str) -> Value:
        text, snapshot, mtime, path = self._read(key, with_data=True)
        _parse(key, path, text)  # a damaged metadata file is reported here, by name
        metadata = text  # each .metadata parses it again: a fresh copy, cheaper than deepcopy
        if snapshot is None:
            return Value(lambda start, end: _empty(), metadata, size=0, created=None,
                         modified=mtime)
        return Value(snapshot.open, metadata, size=snapshot.size, created=None, modified=mtime)

    def _metadata(self, key: str) -> dict[str, Any]:
        text, _, _, path = self._read(key, with_data=False)
        return _parse(key, path, text)

    def _exists(self, key: str) -> bool:
        paths = _Paths(self._io, key)
        return self._io.exists(paths.metadata) or self._marker(paths) is not None

    def _listing(self) -> tuple[list[str], set[str]]:
        """The keys (sorted) and the replacement markers present."""
        keys: list[str] = []
        markers: set[str] = set()
        if not self._io.isdir(self._io.root):
            return keys, markers
        for relative in self._io.walk():
            if relative.endswith(".metadata"):
                try:
                    keys.append(check_key(relative[: -len(".metadata")]))
                except ValueError:
                    continue  # not a file a key can name (e.g. "a/.metadata")
            elif relative.endswith(".pending"):
                markers.add(relative)
        return keys, markers

    def _keys(self) -> Iterator[str]:
        yield from self._listing()[0]

    def _items(self, wanted: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        keys, markers = self._listing()
        plain = []
        for key in keys:
            directory, _, name = key.rpartition("/")
            if f"{directory}/.{name}.pending".lstrip("/") in markers:
                try:
                    yield key, self._metadata(key)  # a replacement under way: the full check
                except KeyError:
                    continue
            else:
                plain.append(key)
        texts = self._io.read_many([self._io.path(key + ".metadata") for key in plain])
        for key, text in zip(plain, texts):
            if text is not None:  # None: deleted while we listed
                yield key, json.loads(text)

    # -- writing -------------------------------------------------------------------------------

    def _settle(self, paths: _Paths) -> None:
        """Finish a replacement a crashed writer committed (or drop one it never committed)."""
        marker = self._marker(paths)
        if marker is None:
            if self._io.exists(paths.marker):
                self._io.remove(paths.marker)
            return
        data, metadata = marker
        if self._io.exists(data):
            self._io.replace(data, paths.data)
        if self._io.exists(metadata):
            self._io.replace(metadata, paths.metadata)
        self._io.remove(paths.marker)

    def _temp(self, paths: _Paths, kind: str) -> str:
        return paths.sibling(f".{paths.name}.{uuid.uuid4().hex[:12]}.{kind}.tmp")

    def _write(self, key: str, payload: Any, metadata: dict[str, Any], text: str) -> bool:
        paths = _Paths(self._io, key)
        self._settle(paths)
        existed = self._io.exists(paths.metadata)
        if not existed and self._io.atomic_writes:
            # An object store shows an object only once it is whole: the data goes straight to
            # its name (no key exists without its metadata), then the metadata makes the key.
            self._io.write(paths.data, payload)
            self._io.write(paths.metadata, text.encode("utf-8"))
            return False
        data_temp = self._temp(paths, "data")
        meta_temp = self._temp(paths, "metadata")
        self._io.write(data_temp, payload)
        try:
            self._io.write(meta_temp, text.encode("utf-8"))
        except BaseException:
            self._io.remove(data_temp)
            raise
        if existed:
            names = {"data": os.path.basename(data_temp),
                     "metadata": os.path.basename(meta_temp)}
            # The commit point: from here on readers see the new value.
            self._io.write(paths.marker, json.dumps(names).encode())
            self._io.replace(data_temp, paths.data)
            self._io.replace(meta_temp, paths.metadata)
            self._io.remove(paths.marker)
        else:
            self._io.replace(data_temp, paths.data)
            self._io.replace(meta_temp, paths.metadata)
        return existed

    def _write_metadata(self, key: str, metadata: dict[str, Any], text: str) -> None:
        paths = _Paths(self._io, key)
        self._settle(paths)
        temp = self._temp(paths, "metadata")
        self._io.write(temp, text.encode("utf-8"))
        self._io.replace(temp, paths.metadata)

    def _remove(self, key: str) -> dict[str, Any]:
        paths = _Paths(self._io, key)
        self._settle(paths)
        metadata = self._metadata(key)
        self._io.remove(paths.metadata)  # the key is gone from here on
        self._io.remove(paths.data)
        return metadata


def _parse(key: str, path: str, text: str) -> dict[str, Any]:
    try:
        metadata = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: metadata of key {key!r} is not JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: metadata of key {key!r} is not a JSON object")
    return metadata  # type: ignore[no-any-return]


def _empty() -> Any:
    import io

    return io.BytesIO(b"")
