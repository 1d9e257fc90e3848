"""Open a store by what is at a location: an archive store, or encore's file layout."""

from __future__ import annotations

import os
from typing import Any

from .archive import MARKER, ArchiveStore
from .base import BaseStore
from .errors import NotAStore
from .filesystem import FileSystemStore, init_shared_store

__all__ = ["KINDS", "create_store", "detect_kind", "open_store"]

#: The kinds of store, as ``shoebox store --kind`` names them.
KINDS = ("archive", "filesystem")


def _is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def detect_kind(location: str, magic_fname: str = ".FSStore",
                storage_options: dict[str, Any] | None = None) -> str:
    """``"archive"`` or ``"filesystem"``, from the marker files at ``location``."""
    if _is_url(location):
        return "filesystem"  # archive stores live in local directories only
    path = location.removeprefix("file://")
    if os.path.exists(os.path.join(path, MARKER)):
        return "archive"
    if os.path.exists(os.path.join(path, magic_fname)):
        return "filesystem"
    what = "does not exist" if not os.path.exists(path) else (
        f"is neither an archive store (no {MARKER}) nor a FileSystemStore (no {magic_fname})")
    raise NotAStore(f"{location} {what}; `shoebox store init` makes one", path=location)


def open_store(location: str, *, kind: str | None = None, readonly: bool = False,
               magic_fname: str = ".FSStore",
               storage_options: dict[str, Any] | None = None) -> BaseStore:
    """Open the store at ``location`` (its kind recognised unless ``kind`` is given)."""
    kind = kind or detect_kind(location, magic_fname, storage_options)
    if kind == "archive":
        if _is_url(location):
            raise NotAStore(f"{location}: an archive store is a local directory", path=location)
        return ArchiveStore(location.removeprefix("file://"), readonly=readonly)
    if kind == "filesystem":
        return FileSystemStore(location, magic_fname, storage_options=storage_options)
    raise ValueError(f"unknown store kind {kind!r}; choose one of {', '.join(KINDS)}")


def create_store(location: str, kind: str, *, magic_fname: str = ".FSStore",
                 storage_options: dict[str, Any] | None = None) -> BaseStore:
    """Make a new store of ``kind`` at ``location`` (an existing one of that kind is opened)."""
    if kind == "archive":
        return open_store(location, kind="archive")
    if kind == "filesystem":
        init_shared_store(location, magic_fname, storage_options=storage_options)
        return open_store(location, kind="filesystem", magic_fname=magic_fname,
                          storage_options=storage_options)
    raise ValueError(f"unknown store kind {kind!r}; choose one of {', '.join(KINDS)}")
