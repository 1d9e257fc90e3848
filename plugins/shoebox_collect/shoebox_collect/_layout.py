"""Where things live under a base directory, and the file locks that share it.

::

    BASE/results.zip                  a destination (its later parts: results~002.zip, ...)
    BASE/.shoebox/inbox/              the workers' inbox archives (sealed: *.inbox)
    BASE/.shoebox/locks/              one lock file per destination (never removed)
    BASE/.shoebox/journal/            one undo journal per destination being appended to
    BASE/.shoebox/quarantine/         bad entries and damaged inboxes, kept for inspection
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass

from ._core import fsync_dir

__all__ = ["INBOX_SUFFIX", "Layout", "try_lock"]

INBOX_SUFFIX = ".inbox"


@dataclass(frozen=True)
class Layout:
    """The paths of one base directory."""

    base: str

    @classmethod
    def at(cls, base: str | os.PathLike[str]) -> Layout:
        """The layout of ``base`` (made absolute)."""
        return cls(os.path.abspath(os.fspath(base)))

    @property
    def state(self) -> str:
        """The hidden directory holding everything but the destinations."""
        return os.path.join(self.base, ".shoebox")

    @property
    def inbox(self) -> str:
        """Where workers' inbox archives are written."""
        return os.path.join(self.state, "inbox")

    @property
    def locks(self) -> str:
        """Where the destinations' lock files are."""
        return os.path.join(self.state, "locks")

    @property
    def journal(self) -> str:
        """Where the undo journals of appends in progress are."""
        return os.path.join(self.state, "journal")

    @property
    def quarantine(self) -> str:
        """Where bad entries and damaged inboxes are kept."""
        return os.path.join(self.state, "quarantine")

    def make(self) -> None:
        """Create the directories that are missing (and make their creation durable)."""
        for path in (self.inbox, self.locks, self.journal, self.quarantine):
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
                fsync_dir(os.path.dirname(path))
        fsync_dir(self.base)

    def sealed_inboxes(self) -> list[str]:
        """The sealed inbox archives, oldest name first (names start with their UTC time)."""
        try:
            names = os.listdir(self.inbox)
        except FileNotFoundError:
            return []
        return sorted(
            os.path.join(self.inbox, name)
            for name in names
            if name.endswith(INBOX_SUFFIX) and not name.startswith(".")
        )


def try_lock(path: str, *, create: bool = True) -> int | None:
    """Open ``path`` and take its exclusive ``flock`` without waiting.

    Returns the descriptor holding the lock (close it to release), or None when another process
    holds it or the file is gone. A lock taken on a file that was removed or replaced meanwhile is
    refused too, so that holding the lock always means holding the file now at ``path``.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if create:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            os.close(fd)
            return None
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd
