"""Small file-system helpers that never overwrite and make renames durable."""

from __future__ import annotations

import errno
import os

COMPRESSION_SUFFIXES = (".gz", ".zst")
INPROGRESS_SUFFIX = ".inprogress"
JOURNAL_SUFFIX = ".state"  # the shipping journal next to an archive (shoebox_core.ship.journal)
MAX_COLLISIONS = 100_000
#: Endings of the files shoebox itself makes next to archives (and of compressed archives, which
#: readers decompress): an archive's own name must never end with one.
PARTIAL_SUFFIX = ".partial"  # a copy being made (compression, recovery)
RESERVING_SUFFIX = ".reserving"  # a hidden file a writer is about to lock and link
DAMAGED_SUFFIX = ".damaged"  # an in-progress file recovery could not parse, set aside
RESERVED_SUFFIXES = (INPROGRESS_SUFFIX, JOURNAL_SUFFIX, *COMPRESSION_SUFFIXES, PARTIAL_SUFFIX,
                     RESERVING_SUFFIX, DAMAGED_SUFFIX)


def split_extension(name: str) -> tuple[str, str]:
    """Split ``name`` into stem and extension, keeping a compression suffix with the one before it.

    ``"a.events"`` -> ``("a", ".events")``; ``"a.events.gz"`` -> ``("a", ".events.gz")``.
    """
    stem, ext = os.path.splitext(name)
    if ext in COMPRESSION_SUFFIXES or ext == INPROGRESS_SUFFIX:
        stem2, ext2 = os.path.splitext(stem)
        return stem2, ext2 + ext
    return stem, ext


def collision_name(path: str, n: int) -> str:
    """The ``n``-th alternative to ``path``: ``a.events`` -> ``a~001.events``.

    ``~`` sorts after ``.`` and after every character of a usual name, so alternatives sort after
    the original and, being zero-padded, in the order they were taken.
    """
    if n == 0:
        return path
    head, name = os.path.split(path)
    stem, ext = split_extension(name)
    return os.path.join(head, f"{stem}~{n:03d}{ext}")


def fsync_dir(directory: str) -> None:
    """Make a rename or creation inside ``directory`` durable."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rename_no_clobber(src: str, dst: str) -> str:
    """Rename ``src`` to ``dst``, or to the first free collision name of ``dst``; never overwrite.

    Returns the name used. Atomic where the file system supports hard links (a link fails with
    EEXIST instead of replacing); elsewhere it falls back to a checked rename.
    """
    for n in range(MAX_COLLISIONS):
        target = collision_name(dst, n)
        try:
            os.link(src, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if os.path.lexists(target):
                continue
            os.rename(src, target)
            fsync_dir(os.path.dirname(target))
            return target
        os.unlink(src)
        fsync_dir(os.path.dirname(target))
        return target
    raise FileExistsError(f"no free name for {dst} after {MAX_COLLISIONS} attempts")
