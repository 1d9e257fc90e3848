"""Finding archives by pattern (local directory, full path or fsspec URL) and opening each once.

A pattern matches file *names*, never the joined path (stacktach-shoebox matched ``*`` across the
directory). Compressed copies match too: ``test_*.events`` finds ``test_1.events.gz`` and
``test_2.events.zst``; when a file and its compressed twin both exist (a crash between compressing
and removing the original), only the original is read. In-progress files are left out unless asked.

Reading in write order needs every file's header before the first record: :func:`in_write_order`
opens each archive once to read it, and keeps the first :data:`KEEP_OPEN` (in that order) open
with their :class:`Source`, so that :func:`open_archive` hands the reader the file already open,
past its header, instead of opening it again (for a bucket, each open is a ranged GET).
:func:`release` closes what was kept and not read.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from .._fsutil import COMPRESSION_SUFFIXES, INPROGRESS_SUFFIX
from ..format.detect import ArchiveStream, open_stream
from ..ship.journal import is_journal_file

__all__ = [
    "KEEP_OPEN", "OpenedArchive", "Source", "find_sources", "headed", "in_write_order", "is_url",
    "open_archive", "release", "stem",
]

_WILDCARDS = set("*?[")


def is_url(text: str) -> bool:
    """True for ``proto://...`` (fsspec URLs), False for local paths."""
    return "://" in text


@dataclass(frozen=True)
class Source:
    """One archive found by a pattern: its name, where it is and how to open it."""

    path: str
    size: int | None = None
    fs: Any = None  # an fsspec filesystem, or None for a local file
    # The archive in_write_order() opened and kept open for the reader (at most one).
    _kept: list[OpenedArchive] = field(default_factory=list, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The file name without its directory."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def open(self) -> IO[bytes]:
        """Open for binary reading. Remote files are read by ranged requests that start small
        (reading a header fetches 64 KiB, not the whole file) and grow while reading goes on;
        the size the listing gave spares a request for it."""
        if self.fs is None:
            return open(self.path, "rb")
        cache = _growing_cache()
        known = {} if self.size is None else {"size": self.size}
        try:
            return self.fs.open(  # type: ignore[no-any-return]
                self.path, "rb", block_size=REMOTE_BLOCK_SIZE, cache_type=cache, **known
            )
        except TypeError:  # a file system whose files take no cache options
            return self.fs.open(self.path, "rb")  # type: ignore[no-any-return]


@dataclass
class OpenedArchive:
    """An archive opened once: ``raw``, the file as stored, and ``archive``, what its first bytes
    told (:class:`~shoebox_core.format.detect.ArchiveStream`: kind, compression, v2 header, and
    the records from there on). Close it when done (it is a context manager)."""

    source: Source
    raw: IO[bytes]
    archive: ArchiveStream

    @property
    def kind(self) -> str:
        """``"v2"``, ``"v1"``, ``"empty"`` or ``"unknown"``."""
        return self.archive.kind

    def order_key(self) -> tuple[int, int, str]:
        """Write order: v2 files by (creation time, writer's file sequence); the others first."""
        header = self.archive.header
        if header is None:
            return (0, 0, self.source.name)
        return (header.created_ns or 0, header.seq or 0, self.source.name)

    @property
    def identity(self) -> str:
        """What names this archive whatever its file is called: the v2 header's random sync
        marker (it survives renames and compression), else the name without its in-progress
        and compression suffixes."""
        header = self.archive.header
        if header is not None:
            return header.sync.hex()
        return "name:" + stem(self.source.name)

    def close(self) -> None:
        """Close the file."""
        self.raw.close()

    def __enter__(self) -> OpenedArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_archive(source: Source) -> OpenedArchive:
    """The archive ``source`` names, open past its header (decompressing ``.gz`` / ``.zst``
    transparently): the one :func:`in_write_order` kept open, else opened now. A damaged header
    raises :class:`~shoebox_core.errors.CorruptArchive`; the file is then closed."""
    if source._kept:
        return source._kept.pop()
    raw = source.open()
    try:
        return OpenedArchive(source, raw, open_stream(raw, source.path, source.size))
    except BaseException:
        raw.close()
        raise


#: How many archives :func:`in_write_order` keeps open for the reader (bounded: each holds a
#: file descriptor, or a remote file's first 64 KiB).
KEEP_OPEN = 64


def in_write_order(sources: Iterable[Source], *, keep_open: int = KEEP_OPEN) -> list[Source]:
    """``sources`` in write order (see :meth:`OpenedArchive.order_key`; an unreadable file sorts
    first, by name, and is reported when read). Each
    archive is opened once to read its header; the first ``keep_open`` in that order stay open
    for :func:`open_archive`, the others are closed (and opened again when read)."""
    return [source for _key, _identity, source in headed(sources, keep_open=keep_open)]


def headed(
    sources: Iterable[Source], *, keep_open: int = KEEP_OPEN,
    vanished: list[Source] | None = None,
) -> list[tuple[tuple[int, int, str], str | None, Source]]:
    """``(order key, identity, source)`` of each source, in write order, as
    :func:`in_write_order` finds them; the identity (:attr:`OpenedArchive.identity`) is None for
    an empty file or one whose header cannot be read (yet). With ``vanished``, a file gone since
    it was listed is left out and added there."""
    keyed: list[tuple[tuple[int, int, str], int, str | None, Source]] = []
    kept: list[tuple[tuple[int, int, str], int, OpenedArchive]] = []  # sorted, <= keep_open
    for i, source in enumerate(sources):
        if source.size == 0:  # nothing to read: never opened
            keyed.append(((0, 0, source.name), i, None, source))
            continue
        try:
            opened = open_archive(source)
        except FileNotFoundError:
            if vanished is None:
                keyed.append(((0, 0, source.name), i, None, source))  # reported when read
            else:
                vanished.append(source)  # renamed (compressed) or removed since it was listed
            continue
        except Exception:
            keyed.append(((0, 0, source.name), i, None, source))
            continue
        key = opened.order_key()
        keyed.append((key, i, opened.identity, source))
        insort(kept, (key, i, opened))
        if len(kept) > keep_open:
            kept.pop()[2].close()  # the latest so far: it is read last of those seen
    for _key, _i, opened in kept:
        opened.source._kept.append(opened)
    keyed.sort(key=lambda item: item[:2])
    return [(key, identity, source) for key, _i, identity, source in keyed]


def release(sources: Iterable[Source]) -> None:
    """Close the archives :func:`in_write_order` kept open for ``sources`` and nobody read."""
    for source in sources:
        while source._kept:
            source._kept.pop().close()


#: The largest ranged request a remote archive is read with.
REMOTE_BLOCK_SIZE = 8 * 1024 * 1024
_FIRST_BLOCK_SIZE = 64 * 1024
_CACHE_NAME = "shoebox-growing"


def _growing_cache() -> str:
    """Register (once) and name fsspec's read-ahead cache that starts at 64 KiB and doubles on
    each miss up to the file's block size: headers cost one small request, whole files few."""
    import fsspec.caching

    if _CACHE_NAME not in fsspec.caching.caches:

        class GrowingReadAheadCache(fsspec.caching.ReadAheadCache):
            name = _CACHE_NAME  # type: ignore[misc]

            def __init__(self, blocksize: int, fetcher: Any, size: int, **_: Any) -> None:
                super().__init__(blocksize, fetcher, size)
                self.max_blocksize = blocksize
                self.blocksize = min(blocksize, _FIRST_BLOCK_SIZE)

            def _fetch(self, start: int | None, end: int | None) -> bytes:
                misses = self.miss_count
                data = super()._fetch(start, end)
                if self.miss_count != misses:
                    self.blocksize = min(self.blocksize * 2, self.max_blocksize)
                return data

        fsspec.caching.register_cache(GrowingReadAheadCache, clobber=True)
    return _CACHE_NAME


def stem(name: str) -> str:
    """``name`` without a compression suffix and ``.inprogress``: the same for every name one
    archive has had (``x.events.inprogress``, ``x.events``, ``x.events.zst``)."""
    for suffix in (*COMPRESSION_SUFFIXES, INPROGRESS_SUFFIX):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _matches(name: str, pattern: str, include_in_progress: bool) -> bool:
    if is_journal_file(name):
        return False  # the on-close journal next to an archive, never an archive itself
    if name.endswith(INPROGRESS_SUFFIX):
        if not include_in_progress:
            return False
        name = name[: -len(INPROGRESS_SUFFIX)]
    if fnmatch.fnmatchcase(name, pattern):
        return True
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix) and fnmatch.fnmatchcase(name[: -len(suffix)], pattern):
            return True
    return False


def _drop_twins(sources: list[Source]) -> list[Source]:
    """Keep an original rather than its compressed copy when both are present."""
    paths = {s.path for s in sources}
    kept = []
    for source in sources:
        twin = next((source.path[: -len(s)] for s in COMPRESSION_SUFFIXES
                     if source.path.endswith(s)), None)
        if twin is not None and twin in paths:
            continue
        kept.append(source)
    return kept


def _split(pattern: str, directory: str) -> tuple[str, str, bool]:
    """Split a pattern into (directory part, name pattern, whether the directory part is a glob).

    Wildcards count only in ``pattern``: ``directory`` is always taken literally (escaped when it
    is joined to a pattern's own directory part), so a directory named ``logs*`` or ``run[1]`` is
    read, never matched against its neighbours.
    """
    if "/" in pattern or (os.sep != "/" and os.sep in pattern):
        if is_url(pattern):
            head, tail = pattern.rsplit("/", 1)
        else:
            head, tail = os.path.split(pattern)
            if not os.path.isabs(head) and directory not in ("", "."):
                if is_url(directory):
                    head = glob.escape(directory.rstrip("/")) + "/" + head
                else:
                    head = os.path.join(glob.escape(directory), head)
        head = head or "/"
        return head, tail, bool(_WILDCARDS & set(head))
    return directory, pattern, False


def find_sources(
    pattern: str,
    directory: str = ".",
    *,
    storage_options: dict[str, Any] | None = None,
    include_in_progress: bool = False,
) -> list[Source]:
    """Every archive whose name matches ``pattern`` (not yet in reading order)."""
    directory = os.fspath(directory)
    head, name_pattern, head_is_glob = _split(pattern, directory)
    sources: list[Source] = []
    if is_url(head):
        from ..remote import open_remote, remote_errors

        # Bounded timeouts; a store that is down or refuses us is one RemoteError (exit 3).
        fs, root = open_remote(head, storage_options)
        with remote_errors(head):
            # File systems are shared (fsspec caches instances) and some cache listings: a
            # reader must see the objects uploaded since the last listing.
            fs.invalidate_cache()
            roots = fs.glob(root) if head_is_glob else [root]
        seen: set[str] = set()
        for base in roots:
            try:
                with remote_errors(head):
                    entries = fs.ls(base, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                path = entry["name"]
                # A glob such as "**" lists files among the folders: each is seen once.
                if entry.get("type") == "directory" or path in seen:
                    continue
                seen.add(path)
                if _matches(path.rsplit("/", 1)[-1], name_pattern, include_in_progress):
                    sources.append(Source(path, entry.get("size"), fs))
    else:
        roots = glob.glob(head) if head_is_glob else [head]
        for base in roots:
            try:
                entries = list(os.scandir(base))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_file() and _matches(entry.name, name_pattern, include_in_progress):
                    try:
                        size: int | None = entry.stat().st_size
                    except FileNotFoundError:
                        # Renamed (compressed) or removed since the directory was read: opening
                        # it says so (a reader then lists again, for its new name).
                        size = None
                    sources.append(Source(entry.path, size))
    return _drop_twins(sources)
