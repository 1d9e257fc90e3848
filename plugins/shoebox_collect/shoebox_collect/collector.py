"""collect(): merge sealed inbox archives into their destinations, exactly once.

A collection runs in rounds. A round claims sealed inboxes (an ``flock`` on each, taken without
waiting: one claimed by another collector is left to it), reads each one through, and streams each
file into its destination, whose lock it takes without waiting the first time that destination
comes up (a destination another collector holds is skipped this round: its files stay in their
inbox). Then every destination touched is committed (fsync, journal removed), and only then is an
inbox removed: when all of its files are in destinations that committed, or quarantined. A
collector killed anywhere leaves journals that the next one undoes, and inboxes that the next one
merges again: files already there are found by name and SHA-256 and counted "already present".
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shoebox_core.errors import ShoeboxError

from ._core import fsync_dir, recover_directory
from ._layout import Layout, try_lock
from ._reading import InboxReading, Staged
from .report import CollectReport, Quarantined
from .zipdest import COMPRESSIONS, ZipDestination

__all__ = ["collect"]

log = logging.getLogger("shoebox.collect")

GiB = 1024**3


def collect(
    base: str | os.PathLike[str],
    *,
    max_archive_bytes: int = 50 * GiB,
    compression: str = "deflate",
    compresslevel: int | None = None,
    batch: int = 64,
    wait: float = 60.0,
) -> CollectReport:
    """Merge every sealed inbox under ``base``, and those dead workers left, into their
    destinations; remove each inbox once all its files are durable there. Returns what it did.

    :param max_archive_bytes: a destination part grows to about this size, then the next files
        go to a new numbered part (``results~002.zip``...); one larger file gets a part alone.
    :param compression: ``"deflate"`` or ``"stored"``; ``compresslevel`` is deflate's (0-9).
    :param batch: inbox archives merged per round (one append to each destination per round).
    :param wait: how long to keep retrying inboxes whose destination another collector holds;
        those still waiting are reported as ``deferred``.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}")
    if max_archive_bytes <= 0 or batch <= 0:
        raise ValueError("max_archive_bytes and batch must be positive")
    layout = Layout.at(base)
    if not os.path.isdir(layout.base):
        raise ShoeboxError(f"{layout.base} is not a directory")
    layout.make()
    report = CollectReport()
    options = {"max_bytes": max_archive_bytes, "compression": compression,
               "compresslevel": compresslevel}
    _restore_torn(layout, options, report)
    report.recovered = sum(1 for item in recover_directory(layout.inbox) if item.sealed)
    _set_aside_unrecoverable(layout, report)
    given_up: set[str] = set()
    deadline = time.monotonic() + wait
    pause = 0.02
    while True:
        claimed = _claim(layout, batch, given_up)
        if not claimed:
            break
        round_ = _Round(layout, options)
        try:
            for path, _fd in claimed:
                round_.merge(path)
        finally:
            round_.finish(claimed)
        report.merge(round_.report)
        given_up |= round_.broken_inboxes
        if round_.busy_inboxes:
            if time.monotonic() >= deadline:
                report.deferred.extend(sorted(round_.busy_inboxes))
                given_up |= round_.busy_inboxes
            elif not round_.progress:
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
    return report


def _restore_torn(layout: Layout, options: dict[str, Any], report: CollectReport) -> None:
    """Undo the appends killed collectors left, even to destinations nothing is staged for:
    every destination is readable again after any collection."""
    for name in sorted(os.listdir(layout.journal)):
        if not name.endswith(".journal") or name.startswith("."):
            continue
        archive = name[: -len(".journal")]
        try:
            dest = ZipDestination.acquire(layout, archive, **options)
        except (OSError, zipfile.BadZipFile, ShoeboxError) as exc:
            report.errors.append(f"destination {archive}: cannot undo an interrupted append "
                                 f"({exc})")
            continue
        if dest is not None:  # else a live collector is appending to it
            report.restored.extend(dest.restored)
            dest.commit()


def _set_aside_unrecoverable(layout: Layout, report: CollectReport) -> None:
    """Move the in-progress inboxes recovery could not parse (their header is damaged: the core
    renames them ``.damaged``) to the quarantine, and report them."""
    for name in sorted(os.listdir(layout.inbox)):
        if name.endswith(".damaged") and not name.startswith("."):
            source = os.path.join(layout.inbox, name)
            target = os.path.join(layout.quarantine, name)
            os.replace(source, target)
            fsync_dir(layout.quarantine)
            report.quarantined.append(Quarantined(
                source, "inbox", "a dead worker's inbox whose header is unreadable", target))


def _claim(layout: Layout, batch: int, skip: set[str]) -> list[tuple[str, int]]:
    claimed = []
    for path in layout.sealed_inboxes():
        if path in skip:
            continue
        fd = try_lock(path, create=False)
        if fd is not None:
            claimed.append((path, fd))
            if len(claimed) >= batch:
                break
    return claimed


@dataclass
class _InboxState:
    complete: bool = True
    destinations: set[str] = field(default_factory=set)
    damage: str = ""


class _Round:
    """One round: the inboxes claimed, the destinations locked, what each inbox depends on."""

    def __init__(self, layout: Layout, options: dict[str, Any]) -> None:
        self.layout = layout
        self.options = options
        self.report = CollectReport()
        self.destinations: dict[str, ZipDestination | None] = {}
        self.pending: dict[str, CollectReport] = {}  # by destination: reported once committed
        self.broken: dict[str, str] = {}
        self.inboxes: dict[str, _InboxState] = {}
        self.busy_inboxes: set[str] = set()
        self.broken_inboxes: set[str] = set()
        self._quarantined_from: dict[str, int] = {}
        self.progress = False

    def merge(self, path: str) -> None:
        """Stream every file of the inbox archive at ``path`` into its destination."""
        state = self.inboxes[path] = _InboxState()
        reading = InboxReading(path, self.layout.state,
                               lambda what, why, blocks: self._quarantine(path, what, why, blocks))
        try:
            for staged in reading.files():
                self._deliver(path, state, staged)
        except OSError as exc:  # the inbox itself cannot be read
            state.complete = False
            self.broken_inboxes.add(path)
            self.report.errors.append(f"{path}: cannot be read ({exc}); left in place")
            return
        self.report.abandoned += reading.abandoned
        if reading.damage:
            state.damage = "; ".join(
                f"{d.skipped_bytes} bytes at byte {d.offset}: {d.reason}" for d in reading.damage
            )

    def _destination(self, archive: str) -> ZipDestination | None:
        if archive in self.destinations:
            return self.destinations[archive]
        dest = None
        if archive not in self.broken:
            try:
                dest = ZipDestination.acquire(self.layout, archive, **self.options)
            except (OSError, zipfile.BadZipFile, ShoeboxError) as exc:
                self._break(archive, f"cannot be opened ({exc})")
        self.destinations[archive] = dest
        if dest is not None:
            self.pending[archive] = CollectReport(restored=list(dest.restored))
        return dest

    def _break(self, archive: str, why: str) -> None:
        self.broken[archive] = why
        self.report.errors.append(
            f"destination {os.path.join(self.layout.base, archive)} {why}; its files stay in "
            "their inbox until it is repaired or moved away"
        )

    def _deliver(self, path: str, state: _InboxState, staged: Staged) -> None:
        entry = staged.entry
        archive = entry.dest.archive
        dest = self._destination(archive)
        if dest is None:
            state.complete = False
            (self.broken_inboxes if archive in self.broken else self.busy_inboxes).add(path)
            return
        state.destinations.add(archive)
        pending = self.pending[archive]
        try:
            found = dest.find(entry)
            if found is not None:
                pending.present.append(f"{archive}/{found}")
                return
            stored = dest.free_name(entry.dest.name, entry.sha256)
            dest.add(entry, stored, staged.blocks())
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError) as exc:
            self._give_up(archive, dest, f"failed while {entry.dest} was added ({exc})")
            return
        if stored == entry.dest.name:
            pending.added.append(str(entry.dest))
        else:
            pending.renamed.append((str(entry.dest), f"{archive}/{stored}"))

    def _give_up(self, archive: str, dest: ZipDestination, why: str) -> None:
        try:
            dest.discard()
        except (OSError, ShoeboxError) as exc:
            why += f"; undoing the append failed too ({exc}): the next collection retries it"
        self.destinations[archive] = None
        del self.pending[archive]
        self._break(archive, why)

    def _quarantine(self, inbox: str, what: str, why: str, blocks: Iterator[bytes]) -> None:
        folder = os.path.join(self.layout.quarantine, os.path.basename(inbox))
        os.makedirs(folder, exist_ok=True)
        # Numbered in the inbox's order: a re-run after a crash writes the same names again.
        number = self._quarantined_from[inbox] = self._quarantined_from.get(inbox, 0) + 1
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in what)[-100:]
        target = os.path.join(folder, f"{number:05d}-{safe}.bad")
        for path, chunks in ((target, blocks), (target + ".why", iter([why.encode() + b"\n"]))):
            temp = f"{path}.{os.getpid()}.tmp"
            with open(temp, "wb") as out:
                for block in chunks:
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        fsync_dir(folder)
        log.error("shoebox collect: quarantined %s from %s: %s", what, inbox, why)
        self.report.quarantined.append(Quarantined(inbox, what, why, target))

    def finish(self, claimed: list[tuple[str, int]]) -> None:
        """Commit every destination, then remove (or quarantine) each inbox all of whose files
        are durable, and release every lock."""
        failed = set(self.broken)
        for archive, dest in self.destinations.items():
            if dest is None:
                continue
            try:
                dest.commit()
            except (OSError, zipfile.BadZipFile) as exc:
                failed.add(archive)
                self._give_up(archive, dest, f"could not be committed ({exc})")
                continue
            done = self.pending.pop(archive)
            done.parts_created.extend(dest.created)
            self.report.merge(done)
            self.progress = self.progress or bool(done.added or done.renamed)
        for path, fd in claimed:
            try:
                state = self.inboxes.get(path)
                if state is None or not state.complete or state.destinations & failed:
                    continue
                if state.damage:
                    self._set_aside(path, state.damage)
                else:
                    os.unlink(path)
                self.report.inboxes_collected += 1
                self.progress = True
            finally:
                os.close(fd)
        if self.report.inboxes_collected:
            fsync_dir(self.layout.inbox)

    def _set_aside(self, path: str, damage: str) -> None:
        target = os.path.join(self.layout.quarantine, os.path.basename(path))
        os.replace(path, target)
        fsync_dir(self.layout.quarantine)
        log.error("shoebox collect: %s had damaged blocks (%s); its good files were collected "
                  "and it is kept as %s", path, damage, target)
        self.report.quarantined.append(
            Quarantined(path, "inbox", f"damaged blocks skipped: {damage}", target)
        )
