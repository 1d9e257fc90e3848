"""The on-close chain of a writer, journaled so that a restarted process resumes it.

:class:`ShippingChain` is a :class:`~shoebox_core.ship.callbacks.CallbackChain` that keeps a journal
(:mod:`shoebox_core.ship.journal`) for each archive: created when the archive is opened, rewritten
after each completed step, removed once the last step is done. ``on_close(archive)`` always takes
the archive's *sealed* name and runs only the steps not yet done, from the name the last completed
step produced, so the same call serves a first run, a retry after a failure and a resume after a
crash: a completed compression is never repeated, an upload is retried under the object name it
noted, and a local file is deleted only by the step that verified its remote copy.

:func:`pending_archives` finds the archives of a directory whose journals still have steps to run
(and that no live process is working on); a writer hands them to its chain when it starts.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from .._fsutil import INPROGRESS_SUFFIX
from ..errors import CallbackError, ConfigError, JournalConflict
from ..ship.callbacks import CallbackChain, CallbackSpec, callback_name
from ..ship.journal import (
    Journal,
    JournalError,
    StepContext,
    find_journals,
    journal_path,
    load_journal,
    owner_alive,
    remove_journal,
    running_step,
    save_journal,
)

__all__ = ["ENDS_THE_CHAIN", "JournalConflict", "ShippingChain", "ShippingStats", "StepMismatch",
           "local_effect", "order_problem", "pending_archives"]

log = logging.getLogger("shoebox")

# Journals being worked on in this process: two chains must not run one archive at once.
_ACTIVE: set[str] = set()
_ACTIVE_LOCK = threading.Lock()


#: A journal recording other steps than this chain's is a :class:`JournalConflict` too.
StepMismatch = JournalConflict


#: Declared effects on the local file (a step's ``local_effect``) after which nothing may run:
#: the file is deleted (``delete``, a transfer with ``remove_local``) or handed over elsewhere
#: (``move``). Any other value (or none) leaves a file for the next step.
ENDS_THE_CHAIN = {"removes": "deletes the local file", "moves": "moves the file away"}


def local_effect(step: object) -> str | None:
    """What ``step`` declares it does to the local file it is given (its ``local_effect``
    attribute: ``"removes"``, ``"moves"``...), None when it declares nothing."""
    effect = getattr(step, "local_effect", None)
    return effect if isinstance(effect, str) else None


def order_problem(
    steps: list[object] | tuple[object, ...], name: Callable[[int], str] | None = None
) -> str | None:
    """Why the on-close ``steps`` cannot run in this order (a step after one that deletes or moves
    the file away would run on nothing, or on a file another owner took), else None.
    ``name(index)`` says how to call a step in the message (default: its name)."""
    def called(index: int) -> str:
        return name(index) if name is not None else repr(callback_name(steps[index]))

    for index, step in enumerate(steps[:-1]):
        effect = local_effect(step)
        if effect in ENDS_THE_CHAIN:
            later = ", ".join(called(i) for i in range(index + 1, len(steps)))
            return (f"{called(index)} {ENDS_THE_CHAIN[effect]}, so the step(s) after it "
                    f"({later}) would run on a file that is not there: put it last")
    return None


@dataclass(frozen=True)
class ShippingStats:
    """What shipping did so far, and what is left (see ``WritingRollManager.shipping_stats``).

    ``files_done`` archives finished their chain and ``files_failed`` gave up after their last
    attempt (kept, reported, retried later); ``retries`` counts attempts after a failure;
    ``backlog`` archives wait (or are being handled), the oldest for ``oldest_age`` seconds;
    ``shipped_files`` / ``shipped_bytes`` were uploaded and verified by the chain's transfers,
    ``already_present`` were found already uploaded and verified (a retry after a crash).
    """

    files_done: int = 0
    files_failed: int = 0
    retries: int = 0
    backlog: int = 0
    oldest_age: float = 0.0
    shipped_files: int = 0
    shipped_bytes: int = 0
    already_present: int = 0


class ShippingChain(CallbackChain):
    """A callback chain that journals each archive's progress (see the module docstring).

    ``journal`` (default True) may be turned off to behave exactly as a plain chain. ``clock`` (an
    object with ``time()``) stamps the journals.
    """

    # Failures are retried: one line per attempt here, the worker reports the final one.
    failure_log_level = logging.WARNING

    def __init__(
        self, callbacks: CallbackSpec = None, *, journal: bool = True, clock: Any = None
    ) -> None:
        super().__init__(callbacks)
        problem = order_problem(self.close_steps)
        if problem is not None:
            raise ConfigError(f"on-close chain refused: {problem}")
        self.journaled = bool(journal) and bool(self.close_steps)
        self._time: Callable[[], float] | None = getattr(clock, "time", None)
        self._conflicts: set[str] = set()

    @property
    def step_names(self) -> list[str]:
        """The names of the on-close steps, as journals record them."""
        return [callback_name(cb) for cb in self.close_steps]

    def _now(self) -> float | None:
        return self._time() if self._time is not None else None

    def _save(self, journal: Journal) -> None:
        save_journal(journal, now=self._now())

    def on_open(self, filename: str) -> None:
        """Start the archive's journal (state ``writing``), then call every ``on_open``."""
        if self.journaled:
            self._start_journal(os.path.abspath(os.fspath(filename)))
        super().on_open(filename)

    def _start_journal(self, archive: str) -> None:
        try:
            existing: Journal | None = load_journal(journal_path(archive))
        except (FileNotFoundError, JournalError):
            existing = None
        if existing is not None and existing.state != "writing":
            # An earlier archive of this name is sealed and its chain unfinished (a step moved
            # it away, then a later one failed): its journal must not be taken over.
            self._conflicts.add(archive)
            raise JournalConflict(
                f"{archive} has the name of an earlier archive whose on-close chain is not "
                f"finished ({existing.journal_summary()}); the new file will be kept and not "
                "run: finish the earlier one first (shoebox recover), then run it",
                callback="journal",
                path=archive,
            )
        try:
            # A "writing" journal here was left by a writer that died before its file held a
            # record: nothing to keep.
            journal = Journal.new(archive, now=self._now())
            journal.steps = self.step_names
            self._save(journal)
        except OSError as exc:
            raise CallbackError(
                f"cannot start the journal of {archive}: {exc}; its on-close steps will still "
                "run, but will not resume after a crash",
                callback="journal",
                path=archive,
            ) from exc

    def on_close(self, filename: str) -> str:
        """Run the steps the archive ``filename`` (its sealed name) has not completed yet; return
        its name after the last one. Raises :class:`CallbackError` as a plain chain does; the
        journal then says where the chain stopped and why."""
        if not self.journaled:
            return super().on_close(filename)
        archive = os.path.abspath(os.fspath(filename))
        if archive in self._conflicts:
            raise JournalConflict(
                f"{archive} shares its journal with an earlier archive whose chain is not "
                "finished; it is kept and was not run",
                callback="journal",
                path=archive,
            )
        with _ACTIVE_LOCK:
            if archive in _ACTIVE:
                raise CallbackError(
                    f"{archive} is already being handled by another chain in this process",
                    callback="journal",
                    path=archive,
                )
            _ACTIVE.add(archive)
        try:
            return self._run(archive)
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(archive)

    def _load_or_start(self, archive: str) -> Journal:
        try:
            journal = load_journal(journal_path(archive))
        except FileNotFoundError:
            journal = Journal.new(archive, state="sealed", now=self._now())
            journal.steps = self.step_names
            return journal
        except JournalError as exc:
            raise CallbackError(
                f"{exc}; the archive is kept and nothing is run (inspect or remove the journal)",
                callback="journal",
                path=archive,
            ) from exc
        try:
            journal.confine(tuple(d for d in (getattr(cb, "directory", None)
                                              for cb in self.close_steps) if isinstance(d, str)))
        except JournalError as exc:
            raise CallbackError(str(exc), callback="journal", path=archive) from exc
        names = self.step_names
        if journal.steps[: journal.done] != names[: journal.done]:
            raise StepMismatch(
                f"the journal of {archive} records the steps {journal.steps} ({journal.done} "
                f"done) but this chain runs {names}; the file ({journal.name}) is kept and "
                "nothing is run",
                callback="journal",
                path=archive,
            )
        journal.steps = names
        return journal

    def _run(self, archive: str) -> str:
        journal = self._load_or_start(archive)
        if journal.state == "writing" or journal.sealed is None:
            journal.state = "sealed"
            journal.sealed = self._now() or journal.updated
        steps = self.close_steps
        start = journal.done
        # A step that deleted its input after noting it had finished (a transfer removing the
        # local copy once the remote one was verified, or a compression removing the original
        # once its ``output`` was verified) was killed before the journal moved on.
        while (
            start < len(steps)
            and not os.path.exists(journal.name)
            and journal.notes.get(str(start), {}).get("completed")
        ):
            output = journal.notes[str(start)].get("output")
            if isinstance(output, str) and output:
                journal.name = output
            journal.history.append({"step": journal.steps[start], "name": journal.name,
                                    "at": self._now() or 0.0, "resumed": True})
            start += 1
            journal.done = start
        if start < len(steps) and not os.path.exists(journal.name):
            journal.state = "failed"
            journal.error = f"{journal.name} is missing"
            self._save(journal)
            raise CallbackError(
                f"{journal.name} (archive {archive}) is missing before step "
                f"{journal.steps[start]!r}; nothing left to run it on",
                callback=journal.steps[start],
                path=journal.name,
                skipped=tuple(journal.steps[start + 1 :]),
            )
        self._save(journal)
        context = StepContext(journal, start, self._save)

        def before(index: int, name: str) -> None:
            context.index = index

        def after(index: int, name: str) -> None:
            journal.done = index + 1
            journal.name = name
            journal.attempts = 0
            journal.error = None
            journal.history.append({"step": journal.steps[index], "name": name,
                                    "at": self._now() or 0.0})
            if journal.done < len(steps):
                self._save(journal)

        try:
            with running_step(context):
                final = self.on_close_from(start, journal.name, before=before, after=after)
        except CallbackError as exc:
            journal.state = "failed"
            journal.attempts += 1
            journal.error = str(exc)
            try:
                self._save(journal)
            except OSError:
                log.exception("shoebox: cannot record the failure in %s", journal.path)
            raise
        remove_journal(journal)
        return final

    def transfer_stats(self) -> tuple[int, int, int]:
        """``(files, bytes, already_present)`` summed over the chain's transfers."""
        files = size = present = 0
        for cb in self.close_steps:
            stats = getattr(cb, "stats", None)
            if stats is not None and hasattr(stats, "files"):
                files += stats.files
                size += stats.bytes
                present += stats.already_present
        return files, size, present


def pending_archives(
    directory: str,
    *,
    pattern: re.Pattern[str] | None = None,
    remove_stale: bool = True,
    take_over: Collection[str] = (),
    foreign: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Sealed archives of ``directory`` whose journals have steps left, oldest first.

    ``pattern`` (a namer's ``regex()``) keeps archives whose name it fully matches (collision
    markers ``~NNN`` and the in-progress suffix aside). Skipped: archives still being written
    (their in-progress file exists), journals a live process on this host (or any process on
    another host) last worked on, and unreadable journals. A journal left for an archive that
    never held a record (recovery removed its in-progress file) is removed if ``remove_stale``.
    Journals of the hosts named in ``take_over`` (gone, e.g. a rescheduled pod's old name) are
    taken as a dead process's; the ``(archive, host)`` of the other hosts' are added to
    ``foreign`` when given.
    """
    found: list[tuple[float, str]] = []
    for path in find_journals(directory):
        try:
            journal = load_journal(path)
        except (OSError, JournalError) as exc:
            log.warning("shoebox: skipping journal %s: %s", path, exc)
            continue
        base = os.path.basename(journal.archive)
        if pattern is not None:
            stripped = re.sub(r"~\d{3,}(?=\.[^.]*$|$)", "", base)
            if not pattern.fullmatch(stripped):
                continue
        if os.path.exists(journal.archive + INPROGRESS_SUFFIX):
            continue  # being written, or recovery's business
        alive = owner_alive(journal.owner, take_over=take_over)
        if alive is None and foreign is not None:
            foreign.append((journal.archive, journal.owner.partition(":")[0]))
        if alive is None or (alive and journal.owner.split(":")[1] != str(os.getpid())):
            continue
        nothing = not os.path.exists(journal.name) and not os.path.exists(journal.archive)
        if journal.state == "writing" and journal.done == 0 and nothing:
            if remove_stale:
                remove_journal(journal)
            continue
        found.append((journal.sealed or journal.opened, journal.archive))
    return [archive for _, archive in sorted(found)]
