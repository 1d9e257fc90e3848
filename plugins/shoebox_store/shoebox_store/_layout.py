"""The files of an archive store's directory: its marker, and its archives by number."""

from __future__ import annotations

import os
import uuid

from ._segment import INPROGRESS, SUFFIX
from .errors import NotAStore

__all__ = ["MARKER", "File", "listing", "prepare_directory"]

#: The file that marks a directory as an archive store (and says which version of the layout).
MARKER = ".shoebox-store"
MARKER_CONTENT = b"shoebox-store archive 1\n"


class File:
    """An archive opened for reading; closed when the last value using it is gone."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def prepare_directory(path: str, *, readonly: bool) -> None:
    """Check that ``path`` is an archive store, or make it one (an empty or missing
    directory, unless ``readonly``)."""
    marker = os.path.join(path, MARKER)
    if os.path.exists(marker):
        return
    if readonly or (os.path.isdir(path) and os.listdir(path)):
        what = "does not exist" if not os.path.exists(path) else (
            f"is not an archive store (no {MARKER} file)")
        raise NotAStore(f"{path} {what}", path=path)
    os.makedirs(path, exist_ok=True)
    temp = f"{marker}.{uuid.uuid4().hex[:8]}.tmp"
    with open(temp, "wb") as f:
        f.write(MARKER_CONTENT)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, marker)


def listing(path: str) -> tuple[dict[int, str], dict[int, str]]:
    """The sealed and the in-progress archives of the store at ``path``, by number."""
    sealed: dict[int, str] = {}
    unsealed: dict[int, str] = {}
    for name in os.listdir(path):
        for suffix, into in ((SUFFIX, sealed), (INPROGRESS, unsealed)):
            stem = name[: -len(suffix)]
            if name.endswith(suffix) and stem.isdigit():
                into[int(stem)] = os.path.join(path, name)
    return sealed, unsealed
