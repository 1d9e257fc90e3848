"""What is left to ship in a directory, from the journals next to its archives.

:func:`directory_status` reads every journal (``*.state``) of a directory without changing
anything and summarises it: archives being written, sealed archives waiting for (or in the middle
of) their on-close chain, archives whose last attempt failed, with their next step, attempts, last
error, age, size and the remote object a transfer noted. :func:`format_status` renders it for a
terminal (``shoebox status``)::

    from shoebox_core.ship.status import directory_status, format_status

    status = directory_status("/var/spool/shoebox")
    print(format_status(status))
    if status.failed:
        ...
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import asdict, dataclass

from ..ship.journal import JournalError, find_journals, load_journal, owner_alive

__all__ = ["DirectoryStatus", "PendingFile", "directory_status", "format_status"]


@dataclass(frozen=True)
class PendingFile:
    """One archive whose on-close chain is not finished, as its journal tells.

    ``state`` is ``"writing"`` (still open, or its writer died before sealing it), ``"sealed"``
    (waiting for, or between, steps) or ``"failed"`` (the last attempt failed: ``error``);
    ``next_step`` is the first step not done; ``age`` the seconds since it was sealed (opened,
    while writing); ``size`` the bytes of the file now (None if it is missing); ``active`` whether
    the process that last worked on it still runs (None: it ran on another host); ``remote`` the
    object a transfer step noted (being uploaded, or verified).
    """

    archive: str
    name: str
    state: str
    steps: tuple[str, ...]
    done: int
    next_step: str | None
    attempts: int
    error: str | None
    age: float
    size: int | None
    owner: str
    active: bool | None
    remote: str | None

    @property
    def stale(self) -> bool:
        """True for a file whose writer is gone: left ``"writing"`` by a process that no longer
        runs on this host (a crash); ``shoebox recover`` seals it."""
        return self.state == "writing" and self.active is False


@dataclass(frozen=True)
class DirectoryStatus:
    """Every unfinished archive of ``directory`` (oldest first) and the journals that could not
    be read (``(path, reason)``)."""

    directory: str
    files: tuple[PendingFile, ...]
    unreadable: tuple[tuple[str, str], ...] = ()

    @property
    def writing(self) -> int:
        """Archives being written by a live writer (or by one on another host)."""
        return sum(1 for f in self.files if f.state == "writing" and not f.stale)

    @property
    def stale(self) -> int:
        """Archives left in progress by a writer that is gone (``shoebox recover`` seals them)."""
        return sum(1 for f in self.files if f.stale)

    @property
    def waiting(self) -> int:
        """Sealed archives with steps left (failed ones included)."""
        return sum(1 for f in self.files if f.state != "writing")

    @property
    def failed(self) -> int:
        """Archives whose last attempt failed."""
        return sum(1 for f in self.files if f.state == "failed")

    @property
    def oldest_age(self) -> float:
        """Seconds the oldest sealed, unfinished archive has waited (0 when none)."""
        return max((f.age for f in self.files if f.state != "writing"), default=0.0)

    @property
    def pending_bytes(self) -> int:
        """Bytes of the sealed, unfinished archives on disk."""
        return sum(f.size or 0 for f in self.files if f.state != "writing")

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (``shoebox status --json``)."""
        return {
            "directory": self.directory,
            "writing": self.writing,
            "stale": self.stale,
            "waiting": self.waiting,
            "failed": self.failed,
            "oldest_age": round(self.oldest_age, 3),
            "pending_bytes": self.pending_bytes,
            "files": [{**asdict(f), "stale": f.stale} for f in self.files],
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
        }


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def directory_status(
    directory: str, *, pattern: str | None = None, now: float | None = None
) -> DirectoryStatus:
    """Summarise the journals of ``directory`` (read only).

    ``pattern`` (a wildcard such as ``"events_*.events"``) keeps the archives whose sealed name
    matches it; ``now`` (seconds since the epoch, default the current time) is what ages are
    measured against.
    """
    now = time.time() if now is None else now
    files: list[PendingFile] = []
    unreadable: list[tuple[str, str]] = []
    for path in find_journals(directory):
        try:
            journal = load_journal(path)
        except JournalError as exc:
            unreadable.append((path, exc.reason))
            continue
        except OSError as exc:  # removed meanwhile: its chain just finished
            if not isinstance(exc, FileNotFoundError):
                unreadable.append((path, str(exc)))
            continue
        if pattern is not None and not fnmatch.fnmatchcase(
            os.path.basename(journal.archive), pattern
        ):
            continue
        note = journal.notes.get(str(journal.done), {})
        since = journal.sealed if journal.sealed is not None else journal.opened
        files.append(
            PendingFile(
                archive=journal.archive,
                name=journal.name,
                state=journal.state,
                steps=tuple(journal.steps),
                done=journal.done,
                next_step=journal.steps[journal.done] if journal.done < len(journal.steps)
                else None,
                attempts=journal.attempts,
                error=journal.error,
                age=max(0.0, now - since),
                size=_size(journal.name),
                owner=journal.owner,
                active=owner_alive(journal.owner) if journal.owner else False,
                remote=note.get("url"),
            )
        )
    files.sort(key=lambda f: (-f.age, f.archive))
    return DirectoryStatus(os.path.abspath(directory), tuple(files), tuple(unreadable))


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def format_status(status: DirectoryStatus, *, verbose: bool = False) -> str:
    """A few lines for a terminal: the totals, then one line per unfinished archive (with its
    last error when ``verbose``)."""
    lines = [
        f"{status.directory}: {status.waiting} sealed file(s) not finished ({status.failed} "
        f"failed, {status.pending_bytes:,} bytes, oldest {_age(status.oldest_age)}), "
        f"{status.writing} being written"
        + (f", {status.stale} stale (writer gone: shoebox recover seals them)"
           if status.stale else "")
    ]
    for f in status.files:
        step = f"next: {f.next_step}" if f.next_step else "done"
        progress = f"{f.done}/{len(f.steps)} steps"
        where = os.path.basename(f.name) if f.size is not None else f"{os.path.basename(f.name)} "
        where += "" if f.size is not None else "(missing)"
        extra = f", {f.attempts} failed attempt(s)" if f.attempts else ""
        activity = "" if f.active is False else " [active]" if f.active else " [other host]"
        state = "stale" if f.stale else f.state
        lines.append(
            f"  {state:<7} {os.path.basename(f.archive)}  {progress}, {step}{extra}, "
            f"{_age(f.age)} old, now {where}{activity}"
        )
        if f.remote:
            lines.append(f"          remote: {f.remote}")
        if verbose and f.error:
            lines.append(f"          error: {f.error}")
    for path, reason in status.unreadable:
        lines.append(f"  unreadable journal {path}: {reason}")
    return "\n".join(lines)
