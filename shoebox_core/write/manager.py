"""WritingRollManager: append records to the active archive and roll it when its policy says so.

What it is made of lives next to it: the intake (``write()``, ``write_many()``, the inbox) in
:mod:`.intake`, the roll decision in :mod:`.policy`, the active file in :mod:`.archive`, the timer
thread in :mod:`.timer` and the hand-off of sealed files to the on-close chain in :mod:`.handoff`.
This module holds the lifecycle: open lazily, move records in, seal, tick, close.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ArchiveError, CallbackError, ShoeboxError
from ..ship.background import BackgroundCloser, RetryPolicy
from ..ship.chain import ShippingStats
from .archive import ActiveArchive, check_block_limits, newest_created
from .checkers import NeverRollChecker, RollChecker
from .handoff import Handoff
from .intake import RecordIntake
from .naming import TemplateNamer
from .policy import RollPolicy
from .recovery import Recovered, recover_file
from .timer import Timer

__all__ = ["WritingRollManager"]

log = logging.getLogger("shoebox")

MiB = 1024 * 1024


class WritingRollManager(RecordIntake):
    """Write records to rolling archive files.

    ``filename_template`` names each file (strftime codes in UTC, ``{seq}``, ``{host}``,
    ``{pid}``; see :mod:`shoebox_core.write.naming`); ``roll_checker`` is one checker or a list
    (roll when any says so, as :mod:`shoebox_core.write.policy` decides; None never rolls); files
    go to ``directory``; ``archive_callback`` is one callback or a list run in order
    (``on_open(name)`` when a file starts, ``on_close(name)`` once it is sealed).

    Keyword-only options: ``clock``; ``namer`` (a namer strategy instead of the template);
    ``block_records`` / ``block_bytes`` (block size: records are checksummed and written a block at
    a time); ``compression`` (``"none"`` or ``"zstd"``, per block); ``flush_interval`` (seconds:
    pending records are written to the OS at least this often, so they survive a killed process;
    None disables); ``tick_interval`` (longest sleep of the timer that fires time-based rolls);
    ``max_record_bytes``; ``background`` (default True: the on-close chain of sealed files runs
    in a worker thread, so compression never stalls ``write()``; at most ``max_backlog`` sealed
    files wait, then ``write()`` blocks (``when_full="block"``) or raises BacklogFull
    (``"raise"``); ``close()`` waits for the chain to finish); ``recover`` (default True: before
    its first file, seal the in-progress files that dead writers of the same template left in
    ``directory`` and run their on-close chain; files of live writers are never touched).

    Shipping: each file's on-close progress is journaled next to it (``<name>.state``, see
    :mod:`shoebox_core.ship.chain`), so a restarted writer resumes every pending chain at its first
    step not done. A failed chain is retried as ``retry`` says (a
    :class:`~shoebox_core.ship.background.RetryPolicy` or a mapping of its fields; by default five
    attempts with backoff when a step is a transfer, one otherwise); ``close_timeout`` bounds how
    long ``close()`` waits for the backlog (the rest resumes at the next start);
    ``on_shipping_event`` receives each :class:`~shoebox_core.ship.background.ShippingEvent`;
    :meth:`shipping_stats` gives the counters; ``metrics_port`` serves them (and
    :meth:`counters`) in the Prometheus text format (:mod:`shoebox_core.metrics`).

    Partitions: with ``partition_by`` (metadata field names) the writer keeps one active archive
    per value, at most ``max_partitions`` open (the least recently written sealed first), so
    every archive holds one partition; see :mod:`shoebox_core.write.partition`.

    Thread-safe: writes from several threads are serialised by a lock.
    """

    def __new__(cls, *args: Any, partition_by: Any = None, **kwargs: Any) -> Any:
        # partition_by: one writer per partition value (see shoebox_core.write.partition).
        if partition_by is not None:
            from .partition import PartitionedWriter

            return PartitionedWriter(*args, partition_by=partition_by, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        filename_template: str,
        roll_checker: RollChecker | Sequence[RollChecker] | None,
        directory: str = ".",
        archive_callback: Any = None,
        *,
        clock: Clock | None = None,
        namer: Any = None,
        block_records: int = 4096,
        block_bytes: int = 256 * 1024,
        compression: str = "none",
        compression_level: int = 3,
        flush_interval: float | None = 1.0,
        tick_interval: float = 1.0,
        max_record_bytes: int = 64 * MiB,
        recover: bool = True,
        background: bool = True,
        max_backlog: int = 64,
        when_full: str = "block",
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        close_timeout: float | None = None,
        on_shipping_event: Any = None,
        partition_by: Sequence[str] | None = None,
        max_partitions: int = 16,
        metrics_port: int | None = None,
    ) -> None:
        if compression not in ("none", "zstd"):
            raise ValueError(f"compression must be 'none' or 'zstd', got {compression!r}")
        check_block_limits(max_record_bytes=int(max_record_bytes), block_bytes=int(block_bytes),
                           compression=compression)
        self.filename_template = filename_template
        # Resolved once: a later os.chdir() must not move the files (a sealed file in one place,
        # its in-progress twin in another, recovered again at the next start).
        self.directory = os.path.abspath(os.fspath(directory))
        self.namer = namer if namer is not None else TemplateNamer(template=filename_template)
        if roll_checker is None:
            checkers: list[RollChecker] = [NeverRollChecker()]
        elif isinstance(roll_checker, (list, tuple)):
            checkers = list(roll_checker)
        else:
            checkers = [roll_checker]  # type: ignore[list-item]
        self.roll_checkers = checkers
        self.roll_checker = checkers[0] if len(checkers) == 1 else checkers
        self._policy = RollPolicy(checkers)
        self.archive_callback = archive_callback
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self._handoff = Handoff(archive_callback, clock=self.clock, background=background,
                                max_backlog=max_backlog, when_full=when_full, retry=retry,
                                on_shipping_event=on_shipping_event)
        self.block_records = int(block_records)
        self.block_bytes = int(block_bytes)
        self.compression = compression
        self.compression_level = compression_level
        self.flush_interval = flush_interval
        self.tick_interval = tick_interval
        self.max_record_bytes = int(max_record_bytes)
        self.recover = recover
        self.close_timeout = close_timeout
        self.recovered: list[Recovered] = []
        self.sealed: list[str] = []  # final names of the files this writer sealed, in order
        # Failures that came after write()'s records were stored; close() raises the first.
        self.late_errors: list[Exception] = []
        self._archive: ActiveArchive | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._inbox: list[bytes] = []  # see RecordIntake
        self._batch = self._big = 0
        self._avg = 256
        self._seq: int | None = None
        self._last_created = float("-inf")
        self._timer = Timer(self.tick, fallback=tick_interval, where=self.directory)
        self._last_flush = 0.0
        self._sealed_records = self._sealed_bytes = 0
        self.metrics_server = None
        if metrics_port is not None:  # the Prometheus endpoint (shoebox_core.metrics)
            from ..metrics import serve_metrics

            self.metrics_server = serve_metrics(self, metrics_port)

    @property
    def closer(self) -> BackgroundCloser | None:
        """The worker running the on-close chain in the background (None when it runs in
        ``write()``'s thread, or there is no chain)."""
        return self._handoff.closer

    @property
    def callback_errors(self) -> list[CallbackError]:
        """Callback failures not yet raised by ``close()``."""
        return self._handoff.errors

    # -- moving records into the archive (the moves themselves: RecordIntake) -------------
    def _collect(self, archive: ActiveArchive) -> None:
        """``archive.flush_block()`` (the timer's periodic flush) writes the waiting records."""
        if archive is self._archive and self._inbox:
            try:
                self._take_inbox()
            finally:
                self._set_gates()

    def flush(self) -> None:
        """Make every record written so far durable: written to the file and fsynced."""
        with self._lock:
            try:
                self._take_inbox()
            finally:
                self._set_gates()
            archive = self._archive
            if archive is not None:
                try:
                    archive.flush()
                except ArchiveError:
                    if archive.broken:
                        self._drop_broken(archive)
                    raise

    def roll(self) -> str | None:
        """Seal the active archive now (if there is one); return its final name."""
        with self._lock:
            return self._roll()

    # -- opening and sealing ------------------------------------------------------------------
    def start(self) -> None:
        """Recover what dead writers left and resume the pending on-close chains now, instead of
        before the first file (what a restarted process with nothing new to write needs)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._seq is not None:
            return
        if self.recover:
            regex = getattr(self.namer, "regex", None)
            # Seal what dead writers of this template left, and finish their chains (once
            # per file: a sealed file is no longer in progress).
            self.recovered.extend(self._handoff.recover(
                self.directory, regex() if regex is not None else None, self.clock))
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            os.makedirs(self.directory, exist_ok=True)
            names = []
        next_seq = getattr(self.namer, "next_seq", None)
        self._seq = next_seq(names) if next_seq is not None else 0
        own_names = getattr(self.namer, "own_names", None)
        if own_names is not None:
            # After a restart with the clock stepped back, new files must still read after
            # the ones already here: readers order files by their header's creation time.
            self._last_created = max(self._last_created,
                                     newest_created(self.directory, own_names(names)))

    def _open_archive(self, *, closing: bool = False) -> ActiveArchive:
        if self._closed and not closing:
            raise ShoeboxError("write() on a closed WritingRollManager")
        now = self.clock.time()
        self._start()
        assert self._seq is not None
        name = self.namer.name(when=now, seq=self._seq)
        # Readers order files by creation time: keep it increasing for this writer even if the
        # wall clock steps back (names may then repeat; they get a collision suffix instead).
        created = self._last_created = max(now, self._last_created + 1e-6)
        archive = ActiveArchive(
            self.directory,
            name,
            created=created,
            seq=self._seq,
            compression=self.compression,
            compression_level=self.compression_level,
            block_bytes=self.block_bytes,
            block_records=self.block_records,
        )
        self._seq += 1
        self._archive = archive
        archive.collect = self._collect
        self._policy.start(archive)
        self._last_flush = self.clock.monotonic()
        self._handoff.opened(archive.filename)
        if (self._policy.timed or self.flush_interval) and not self._closed:  # close() stops it
            self._timer.start()
        return archive

    def _roll(self) -> str | None:
        """Seal the active archive after the records already accepted (lock held)."""
        self._batch = self._big = 0  # first: a write() from now on takes the slow way
        self._take_inbox(closing=self._closed)
        return self._seal_active()

    def _seal_active(self) -> str | None:
        archive = self._archive
        if archive is None:
            return None
        self._archive = None
        self._batch = self._big = 0
        try:
            final = archive.seal(self.clock.time())
        except ArchiveError:
            if archive.broken:
                self._drop_broken(archive)
            raise
        self.sealed.append(final)
        self._sealed_records += archive.record_count
        self._sealed_bytes += archive.size
        return self._handoff.hand_over(final)

    def _drop_broken(self, archive: ActiveArchive) -> None:
        """Abandon an archive a write or fsync failed on, and seal its good blocks now if the
        disk lets us (else recovery does it later); the next write starts a new file."""
        archive.abandon()
        if self._archive is archive:
            self._archive = None
        self._batch = self._big = 0
        try:
            saved = recover_file(archive.path, clock=self.clock)
        except Exception as exc:  # the disk is still full: the file waits for recovery
            log.warning("shoebox: %s kept in progress for recovery: %s", archive.path, exc)
            return
        if saved is not None and saved.sealed is not None:
            self.sealed.append(saved.sealed)
            self._handoff.hand_over(saved.sealed)

    # -- time ------------------------------------------------------------------------------
    def tick(self) -> float:
        """Fire due time-based rolls and interval flushes; return seconds until the next is due.

        Called by the writer's timer thread; tests with a fake clock may call it directly.
        """
        with self._lock:
            archive = self._archive
            if archive is None:
                return self.tick_interval
            wait = self.tick_interval
            if self.flush_interval:
                due = self._last_flush + self.flush_interval - self.clock.monotonic()
                if due <= 0:
                    archive.flush_block()
                    self._last_flush = self.clock.monotonic()
                    due = self.flush_interval
                wait = min(wait, due)
            roll, left = self._policy.poll(archive)
            if roll:
                self._roll()
                return self.tick_interval
            return wait if left is None else min(wait, left)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Seal the active archive, run its on-close chain and stop the timer.

        Raises CallbackError (after everything is sealed) if any callback failed during this
        writer's life; the files concerned were kept.
        """
        with self._lock:
            self._closed = True
            self._timer.stop()
            self._roll()
        self._timer.join(timeout=5)
        try:
            self._handoff.close(self.close_timeout, self.directory)
        finally:
            if self.metrics_server is not None:
                self.metrics_server.shutdown()
        if self.late_errors:
            first, self.late_errors = self.late_errors[0], []
            raise first

    def counters(self) -> dict[str, int]:
        """``records`` and ``bytes`` written (sealed files and the active one) and ``files``
        sealed, for monitoring (see :mod:`shoebox_core.metrics`)."""
        with self._lock:
            active = self._archive
            records = (self._sealed_records + (active.record_count if active else 0)
                       + len(self._inbox))  # accepted, waiting for the next block
            size = self._sealed_bytes + (active.size if active else 0)
            return {"records": records, "bytes": size, "files": len(self.sealed)}

    def shipping_stats(self) -> ShippingStats:
        """Counters of the on-close chain: files done and failed, retries, the backlog and the
        age of its oldest file, files and bytes the transfers shipped (see
        :class:`~shoebox_core.ship.chain.ShippingStats`)."""
        return self._handoff.stats(len(self.sealed))

    def __enter__(self) -> WritingRollManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"WritingRollManager({self.filename_template!r}, {self.roll_checker!r}, "
            f"directory={self.directory!r})"
        )


# Called as __init__ says (__new__ only diverts partition_by): what config checks read.
_params = list(inspect.signature(WritingRollManager.__init__).parameters.values())[1:]
WritingRollManager.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
