"""Which archives a pattern names, and how they are cut into partitions."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union

from ._format import COMPRESSION_SUFFIXES, Source, find_sources, is_url

__all__ = ["DEFAULT_BLOCKSIZE", "Part", "find_archives", "plan_parts"]

#: Bytes of an uncompressed v2 archive read by one partition, unless told otherwise.
DEFAULT_BLOCKSIZE = 64 * 1024 * 1024

PathLike = Union[str, "os.PathLike[str]"]
_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class Part:
    """One partition: a whole archive (``end`` is None) or the blocks starting in
    ``[start, end)`` of an uncompressed v2 archive."""

    source: Source
    start: int = 0
    end: int | None = None

    @property
    def path(self) -> str:
        """The archive this partition reads."""
        return self.source.path


def find_archives(
    paths: PathLike | Iterable[PathLike],
    *,
    storage_options: dict[str, Any] | None = None,
    include_in_progress: bool = False,
) -> list[Source]:
    """The archives named by a pattern, a path, a directory or a list of them, each once.

    Patterns match file names as the core's reader does (``*.events`` finds ``x.events.zst``
    too); a directory stands for every archive in it. Sorted by path within each entry of a
    list; the list's own order is kept. Raises FileNotFoundError for an entry that names nothing.
    """
    entries = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not entries:
        raise ValueError("read_archives needs at least one path or pattern")
    found: list[Source] = []
    seen: set[str] = set()
    for entry in entries:
        pattern = os.fspath(entry)
        sources = find_sources(_as_pattern(pattern, storage_options), ".",
                               storage_options=storage_options,
                               include_in_progress=include_in_progress)
        if not sources:
            raise FileNotFoundError(f"no shoebox archive matches {pattern!r}")
        for source in sorted(sources, key=lambda s: s.path):
            if source.path not in seen:
                seen.add(source.path)
                found.append(source)
    return found


def _as_pattern(pattern: str, storage_options: dict[str, Any] | None) -> str:
    """A directory (local or remote) stands for ``<directory>/*``."""
    if _WILDCARDS & set(pattern):
        return pattern
    if is_url(pattern):
        import fsspec

        fs, root = fsspec.core.url_to_fs(pattern, **(storage_options or {}))
        if fs.isdir(root):
            return pattern.rstrip("/") + "/*"
        return pattern
    if os.path.isdir(pattern):
        return os.path.join(pattern, "*")
    if os.sep not in pattern and "/" not in pattern:
        return os.path.join(".", pattern)
    return pattern


def plan_parts(sources: Iterable[Source], blocksize: int | None) -> list[Part]:
    """At least one partition per archive; an uncompressed archive larger than ``blocksize``
    gets one per ``blocksize`` bytes (None: never split)."""
    if blocksize is not None and (not isinstance(blocksize, int) or blocksize < 1):
        raise ValueError(f"blocksize must be a positive number of bytes or None, got {blocksize!r}")
    parts: list[Part] = []
    for source in sources:
        size = source.size
        if (
            blocksize is None
            or size is None
            or size <= blocksize
            or source.path.endswith(COMPRESSION_SUFFIXES)
        ):
            parts.append(Part(source))
            continue
        for start in range(0, size, blocksize):
            parts.append(Part(source, start, min(start + blocksize, size)))
    return parts
