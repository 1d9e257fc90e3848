"""The per-archive journal: what has been done to a sealed archive, durably, next to it.

Each archive whose writer has an on-close chain gets a journal ``<archive>.state`` in the
archive's directory, created when the archive is opened (so that even a kill between sealing and
handing the file to its chain leaves a trace) and rewritten after every completed step. It is
JSON, replaced atomically (written to a temporary file, fsynced, renamed, directory fsynced)::

    {
      "format": "shoebox-journal", "version": 1,
      "archive": "x_000003.events",      # the sealed name (the journal is "<archive>.state")
      "name": "x_000003.events.zst",     # where the file is now, relative to the journal's folder
      "state": "sealed",                 # writing | sealed | failed
      "steps": ["zstd", "s3"],           # the chain's on-close steps, by name, in order
      "done": 1,                         # how many of them have completed
      "notes": {"1": {"remote": "s3://b/p/x_000003.events.zst", "phase": "uploading"}},
      "attempts": 2, "error": "...",     # attempts at the pending step, the last failure
      "owner": "host:pid:start",         # the process that last worked on it
      "opened": 1700000000.0, "sealed": 1700000060.0, "updated": 1700000061.5,
      "history": [{"step": "zstd", "name": "x_000003.events.zst", "at": 1700000060.2}]
    }

A restarted process resumes at step ``done`` with the file ``name``: a completed step (a
compression) is never run again, and a step can leave itself notes (``notes[str(index)]``, see
:func:`current_step`) such as the remote object it was uploading to, so a retry overwrites that
same object instead of making a second one. When every step has completed the journal is removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import socket
import time
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .._fsutil import JOURNAL_SUFFIX, fsync_dir
from ..errors import JournalError

__all__ = [
    "JOURNAL_SUFFIX",
    "Journal",
    "JournalError",
    "StepContext",
    "current_step",
    "find_journals",
    "journal_path",
    "load_journal",
    "owner_alive",
    "owner_token",
    "save_journal",
]

FORMAT = "shoebox-journal"
VERSION = 1
_TMP_SUFFIX = ".tmp" + JOURNAL_SUFFIX  # "<archive>.<pid>-<n>.tmp.state": also ends in .state
_MAX_HISTORY = 50


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot ("" when unknown): with the
    pid it tells a process from a later one that reused its pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


_OWNER: str | None = None


def owner_token() -> str:
    """``host:pid:start`` of this process (the journal's ``owner``)."""
    global _OWNER
    pid = os.getpid()
    if _OWNER is None or _OWNER.split(":")[1] != str(pid):  # recomputed after a fork
        _OWNER = f"{socket.gethostname()}:{pid}:{_start_time(pid)}"
    return _OWNER


def owner_alive(owner: str, *, take_over: Collection[str] = ()) -> bool | None:
    """Whether the process ``owner`` names still runs: True, False, or None when it ran on another
    host (nothing can be known from here), unless that host is one of ``take_over`` (hosts an
    operator said are gone: False)."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname():
        return False if host in take_over else None
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or _start_time(pid) in ("", start)


@dataclass
class Journal:
    """The journal of one archive. Paths are absolute in memory, relative in the file."""

    path: str
    archive: str
    name: str
    state: str = "writing"
    steps: list[str] = field(default_factory=list)
    done: int = 0
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: int = 0
    error: str | None = None
    owner: str = ""
    opened: float = 0.0
    sealed: float | None = None
    updated: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, archive: str, *, state: str = "writing", now: float | None = None) -> Journal:
        """A fresh journal for ``archive`` (not yet saved)."""
        archive = os.path.abspath(archive)
        now = time.time() if now is None else now
        return cls(
            path=journal_path(archive),
            archive=archive,
            name=archive,
            state=state,
            owner=owner_token(),
            opened=now,
            sealed=now if state != "writing" else None,
            updated=now,
        )

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)

    @property
    def pending_steps(self) -> list[str]:
        """The steps not yet completed, in order."""
        return self.steps[self.done :]

    def note(self, index: int) -> dict[str, Any]:
        """The notes step ``index`` left (empty if none)."""
        return self.notes.setdefault(str(index), {})

    def confine(self, destinations: tuple[str, ...] = ()) -> None:
        """Refuse a journal whose file (``name``, or a step's noted ``output``) is not in the
        journal's own directory or one of ``destinations`` (where the chain's steps move files),
        symbolic links resolved: a tampered journal must never make a chain upload, move or
        delete a file elsewhere. Raises JournalError."""
        allowed = [os.path.realpath(d) for d in (self.directory, *destinations)]
        named = [("name", self.name)] + [
            (f"notes.{key}.output", note["output"]) for key, note in self.notes.items()
            if isinstance(note.get("output"), str)
        ]
        for what, path in named:
            where = os.path.realpath(os.path.join(self.directory, path))
            if not any(os.path.dirname(where) == folder for folder in allowed):
                raise JournalError(
                    f"journal {what} {path!r} leads outside {self.directory} (to {where}); "
                    "refused: the journal was tampered with or damaged, inspect it",
                    path=self.path,
                )

    def journal_summary(self) -> str:
        """``"2/3 steps done, now <name>, journal <path>"``, for messages."""
        return f"{self.done}/{len(self.steps)} steps done, now {self.name}, journal {self.path}"

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to the file."""
        data = asdict(self)
        del data["path"]
        data["archive"] = os.path.basename(self.archive)
        data["name"] = _relative(self.name, self.directory)
        return {"format": FORMAT, "version": VERSION, **data}


def _relative(path: str, directory: str) -> str:
    path = os.path.abspath(path)
    if os.path.dirname(path) == directory:
        return os.path.basename(path)
    return path


def journal_path(archive: str) -> str:
    """The journal of ``archive``: ``<archive>.state``."""
    return os.path.abspath(archive) + JOURNAL_SUFFIX


def load_journal(path: str) -> Journal:
    """Read the journal at ``path``; raises FileNotFoundError, or JournalError when damaged."""
    path = os.path.abspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a shoebox journal")
        if data.get("version") != VERSION:
            raise ValueError(f"journal version {data.get('version')!r}, expected {VERSION}")
        directory = os.path.dirname(path)
        archive = data["archive"]
        if (not isinstance(archive, str) or os.path.basename(archive) != archive
                or archive in ("", ".", "..") or "\x00" in archive
                or os.path.basename(path) != archive + JOURNAL_SUFFIX):
            raise ValueError(f"archive {archive!r} is not the bare name this journal belongs to")
        journal = Journal(
            path=path,
            archive=os.path.join(directory, str(data["archive"])),
            name=os.path.join(directory, str(data["name"])),
            state=str(data["state"]),
            steps=[str(s) for s in data["steps"]],
            done=int(data["done"]),
            notes={str(k): dict(v) for k, v in dict(data.get("notes") or {}).items()},
            attempts=int(data.get("attempts") or 0),
            error=data.get("error"),
            owner=str(data.get("owner") or ""),
            opened=float(data.get("opened") or 0.0),
            sealed=None if data.get("sealed") is None else float(data["sealed"]),
            updated=float(data.get("updated") or 0.0),
            history=list(data.get("history") or []),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"unreadable journal: {exc}", path=path) from None
    if not 0 <= journal.done <= len(journal.steps) and journal.steps:
        raise JournalError(f"done={journal.done} but {len(journal.steps)} steps", path=path)
    return journal


def save_journal(journal: Journal, *, now: float | None = None) -> None:
    """Write ``journal`` atomically and durably (temporary file, fsync, rename, fsync dir)."""
    journal.updated = time.time() if now is None else now
    journal.owner = owner_token()
    if len(journal.history) > _MAX_HISTORY:
        del journal.history[: len(journal.history) - _MAX_HISTORY]
    data = json.dumps(journal.to_json(), indent=1, sort_keys=True).encode("utf-8")
    temp = f"{journal.archive}.{os.getpid()}-{id(journal):x}{_TMP_SUFFIX}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.close(fd)
    os.replace(temp, journal.path)
    fsync_dir(journal.directory)


def remove_journal(journal: Journal) -> None:
    """Delete the journal file (every step completed)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal.path)
    fsync_dir(journal.directory)


def is_journal_file(name: str) -> bool:
    """True for a journal (``*.state``) or one of its temporary files (``*.tmp.state``)."""
    return name.endswith(JOURNAL_SUFFIX)


def _tmp_writer_alive(name: str) -> bool:
    """Whether the process that writes the temporary journal ``name`` (``<archive>.<pid>-<n>``
    ``.tmp.state``) may still run: True unless its pid is certainly gone."""
    try:
        pid = int(name[: -len(_TMP_SUFFIX)].rsplit(".", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def find_journals(directory: str) -> list[str]:
    """Paths of the journals in ``directory``, sorted by name. Temporary files a killed writer
    left (its pid, in the name, is gone; or older than a minute) are removed on the way."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        if entry.name.endswith(_TMP_SUFFIX):
            with contextlib.suppress(OSError):
                if not _tmp_writer_alive(entry.name) or time.time() - entry.stat().st_mtime > 60:
                    os.unlink(entry.path)
        elif entry.name.endswith(JOURNAL_SUFFIX):
            found.append(os.path.abspath(entry.path))
    return found


# -- notes of the step being run -----------------------------------------------------------------


class StepContext:
    """The journal entry of the on-close step being run, for steps that need to remember
    something across a crash (a transfer notes the object it uploads to before uploading)."""

    def __init__(self, journal: Journal, index: int, save: Any) -> None:
        self.journal = journal
        self.index = index
        self._save = save

    @property
    def note(self) -> dict[str, Any]:
        """What this step noted in earlier attempts (a copy)."""
        return dict(self.journal.notes.get(str(self.index), {}))

    def record(self, **values: Any) -> None:
        """Merge ``values`` into this step's notes and save the journal durably."""
        self.journal.note(self.index).update(values)
        self._save(self.journal)


_CURRENT: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "shoebox_step", default=None
)


def current_step() -> StepContext | None:
    """The journal entry of the on-close step running in this thread, or None when the step
    runs outside a journaled chain."""
    return _CURRENT.get()


@contextlib.contextmanager
def running_step(context: StepContext) -> Iterator[StepContext]:
    """Make ``context`` the :func:`current_step` while a step runs."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
