"""WritingRollManager: append records to the active archive and roll it when a checker says so."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ArchiveError, CallbackError, RecordTooLarge, ShoeboxError
from ..ship.background import BackgroundCloser, RetryPolicy
from ..ship.chain import ShippingChain, ShippingStats, pending_archives
from ..write.archive import _EMPTY_BLOCK as _BLOCK_OVERHEAD
from ..write.archive import ActiveArchive
from ..write.checkers import NeverRollChecker, RollChecker
from ..write.intake import BIG_RECORD as _BIG_RECORD
from ..write.intake import PACKERS as _PACKERS
from ..write.intake import as_metadata as _as_metadata
from ..write.intake import as_payload as _as_payload
from ..write.intake import isascii as _isascii
from ..write.intake import metadata_error as _metadata_error
from ..write.intake import new_pack as _new_pack
from ..write.intake import pack_batch as _pack_batch
from ..write.naming import TemplateNamer
from ..write.recovery import Recovered, recover_directory, recover_file

__all__ = ["WritingRollManager"]

log = logging.getLogger("shoebox")

MiB = 1024 * 1024
_MANY = 512  # records write_many() checks and encodes together
_take_packer = _PACKERS.pop
_give_packer = _PACKERS.append


class WritingRollManager:
    """Write records to rolling archive files.

    ``filename_template`` names each file (strftime codes in UTC, ``{seq}``, ``{host}``, ``{pid}``;
    see :mod:`shoebox_core.write.naming`); ``roll_checker`` is one checker or a list (roll when any says
    so; None never rolls); files go to ``directory``; ``archive_callback`` is one callback or a list
    run in order (``on_open(name)`` when a file starts, ``on_close(name)`` once it is sealed).

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
    :meth:`shipping_stats` gives the counters.

    Thread-safe: writes from several threads are serialised by a lock.
    """

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
    ) -> None:
        if compression not in ("none", "zstd"):
            raise ValueError(f"compression must be 'none' or 'zstd', got {compression!r}")
        self.filename_template = filename_template
        self.directory = os.fspath(directory)
        self.namer = namer if namer is not None else TemplateNamer(template=filename_template)
        if roll_checker is None:
            checkers: list[RollChecker] = [NeverRollChecker()]
        elif isinstance(roll_checker, (list, tuple)):
            checkers = list(roll_checker)
        else:
            checkers = [roll_checker]  # type: ignore[list-item]
        self.roll_checkers = checkers
        self.roll_checker = checkers[0] if len(checkers) == 1 else checkers
        self.archive_callback = archive_callback
        # Journals each sealed file's on-close progress next to it, so a restart resumes it.
        self._chain = ShippingChain(archive_callback, clock=clock)
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.block_records = int(block_records)
        self.block_bytes = int(block_bytes)
        self.compression = compression
        self.compression_level = compression_level
        self.flush_interval = flush_interval
        self.tick_interval = tick_interval
        self.max_record_bytes = int(max_record_bytes)
        self.recover = recover
        # Sealed files run their on-close chain in a worker thread unless background=False.
        # Retried by default only when a step says its failures are usually transient (uploads).
        if retry is None and any(getattr(cb, "transient_failures", False) for cb in self._chain):
            retry = RetryPolicy()
        self.close_timeout = close_timeout
        self.closer: BackgroundCloser | None = (
            BackgroundCloser(self._chain.on_close, max_backlog=max_backlog, when_full=when_full,
                             monotonic=self.clock.monotonic, retry=retry,
                             on_event=on_shipping_event)
            if background and len(self._chain)
            else None
        )
        self.recovered: list[Recovered] = []
        self.callback_errors: list[CallbackError] = []
        self.sealed: list[str] = []  # final names of the files this writer sealed, in order
        self._archive: ActiveArchive | None = None
        self._lock = threading.RLock()
        self._closed = False
        # write() encodes each record and appends it here without taking the lock; once
        # ``_batch`` records wait (or one of ``_big`` bytes comes), the writing thread moves them
        # into the archive under the lock. Both gates are 0 while no archive is open or after
        # close(), which sends every write() the slow way. ``_batch`` is recomputed after each
        # move so that the records waiting can never reach a roll limit: rolls stay exact and
        # happen in the write() of the record that reaches the limit.
        self._inbox: list[bytes] = []
        self._batch = 0
        self._big = 0
        self._avg = 256  # bytes per record lately, to size the batch to a block
        self._seq: int | None = None
        self._last_created = float("-inf")
        self._limits_from_checkers()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # set when a new archive opens (or on close)
        self._last_flush = 0.0

    # -- checkers ---------------------------------------------------------------------------
    def _limits_from_checkers(self) -> None:
        """Split checkers into those evaluated inline (size, count), on timer ticks (time) and
        by calling ``check`` after every write (everything else, e.g. a user's subclass)."""
        self._roll_bytes = float("inf")
        self._roll_records = float("inf")
        self._per_write: list[RollChecker] = []
        self._timed: list[RollChecker] = []
        for checker in self.roll_checkers:
            kind = getattr(type(checker).check, "_shoebox_fast", None)
            if kind == "size":
                self._roll_bytes = min(self._roll_bytes, checker.roll_bytes)  # type: ignore[attr-defined]
            elif kind == "count":
                self._roll_records = min(self._roll_records, checker.roll_records)  # type: ignore[attr-defined]
            elif kind == "time":
                self._timed.append(checker)
            elif kind != "never":
                self._per_write.append(checker)
                self._timed.append(checker)

    # -- writing ----------------------------------------------------------------------------
    def write(self, metadata: dict[str, str], payload: str | bytes) -> None:
        """Append one record. ``metadata`` maps str to str; ``payload`` is str or bytes and is
        read back as the same type. Raises TypeError naming a bad key, RecordTooLarge.

        The record is checked and encoded at once (later changes to ``metadata`` do not reach
        the archive), then written with the records around it a block at a time.
        """
        if type(metadata) is dict:
            try:
                for key, value in metadata.items():
                    _isascii(key)
                    _isascii(value)
            except TypeError:
                raise _metadata_error(metadata) from None
        else:
            metadata = _as_metadata(metadata)
        kind = type(payload)
        if kind is not str and kind is not bytes:
            payload = _as_payload(payload)
        try:
            pack = _take_packer()
        except IndexError:
            pack = _new_pack()
        try:
            # Raises, with nothing changed, on a record msgpack cannot encode (a lone surrogate).
            data = pack((metadata, payload))
        finally:
            _give_packer(pack)
        if len(data) >= self._big:
            self._write_now([data])
            return
        inbox = self._inbox
        inbox.append(data)
        if len(inbox) >= self._batch:
            self._drain(data)

    def _write_now(self, records: list[bytes]) -> None:
        """Write encoded records under the lock: the first record of a file, a large one, any
        after close(), or a batch of write_many()."""
        with self._lock:
            if self._closed:
                raise ShoeboxError("write() on a closed WritingRollManager")
            # Before a file exists: a record too large must not leave an empty archive.
            self._check_size(max(map(len, records)))
            if self._archive is None:
                self._open_archive()
            self._inbox.extend(records)
            try:
                self._take_inbox()
            finally:
                self._set_gates()

    def _drain(self, mine: bytes) -> None:
        """Move the waiting records into the archive; ``mine`` is the caller's record."""
        with self._lock:
            if self._closed:
                # close() wrote what was waiting; a record that came after it is refused.
                inbox = self._inbox
                for index in range(len(inbox) - 1, -1, -1):
                    if inbox[index] is mine:
                        del inbox[index]
                        raise ShoeboxError("write() on a closed WritingRollManager")
                return
            try:
                self._take_inbox()
            finally:
                self._set_gates()

    def _take_inbox(self, *, closing: bool = False) -> None:
        """Put the waiting records into blocks, sealing files exactly where a limit is reached
        (lock held)."""
        inbox = self._inbox
        count = len(inbox)
        if not count:
            return
        if self._archive is None:
            self._open_archive(closing=closing)
        batch = inbox[:count]
        del inbox[:count]  # records other threads append meanwhile stay, behind these
        done = 0
        try:
            while done < count:
                archive = self._archive
                if archive is None:
                    archive = self._open_archive(closing=closing)
                per_write = self._per_write
                done, due = archive.take(
                    batch, done, done + 1 if per_write else count,
                    block_bytes=self.block_bytes, block_records=self.block_records,
                    roll_bytes=self._roll_bytes, roll_records=self._roll_records,
                )
                if not due:
                    for checker in per_write:  # a user's checker: asked after every record
                        if checker.check(archive):
                            due = True
                            break
                if due:
                    self._seal_active()
        except BaseException as exc:
            broken = self._archive
            if isinstance(exc, ArchiveError) and broken is not None and broken.broken:
                # Disk full, file too large, I/O error: the waiting records are dropped, not
                # retried (a caller told "not stored" must not find them stored later).
                self._drop_broken(broken)
                raise ArchiveError(
                    f"{exc.reason}; up to {count - done} record(s) waiting to be written, this "
                    "write's included, were not stored either",
                    path=exc.path,
                    offset=exc.offset,
                ) from exc
            inbox[0:0] = batch[done:]  # not placed: kept, in order, for the next attempt
            raise

    def _collect(self, archive: ActiveArchive) -> None:
        """``archive.flush_block()`` (the timer's periodic flush) writes the waiting records."""
        if archive is self._archive and self._inbox:
            try:
                self._take_inbox()
            finally:
                self._set_gates()

    def _set_gates(self) -> None:
        """How many records may wait before the next move, and from what size one goes at once
        (lock held)."""
        archive = self._archive
        if archive is None or self._closed:
            self._batch = self._big = 0
            return
        big = min(self.max_record_bytes + 1, _BIG_RECORD)
        if archive.pending:
            self._avg = max(1, archive.buffered // archive.pending)
        if self._per_write:
            batch = 1
        else:
            # What fills the pending block, and some more (so one move writes one block rather
            # than leave a few records short of it), but never so many that the waiting records
            # (each under ``big`` bytes) could reach the file's size or count limit before the
            # last of them.
            per_block = self.block_bytes // self._avg
            batch = min(
                self.block_records - archive.pending,
                (self.block_bytes - archive.buffered) // self._avg + per_block // 8 + 1,
            )
            if self._roll_records != float("inf"):
                batch = min(batch, int(self._roll_records) - archive.record_count)
            if self._roll_bytes != float("inf"):
                room = self._roll_bytes - archive.written - _BLOCK_OVERHEAD - archive.buffered
                batch = min(batch, int(room // big))
        self._batch = max(1, batch)
        self._big = big

    def _check_size(self, size: int) -> None:
        if size > self.max_record_bytes:
            raise RecordTooLarge(
                f"record of {size} bytes (metadata and payload encoded) exceeds "
                f"max_record_bytes={self.max_record_bytes}"
            )

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

    def _open_archive(self, *, closing: bool = False) -> ActiveArchive:
        if self._closed and not closing:
            raise ShoeboxError("write() on a closed WritingRollManager")
        now = self.clock.time()
        if self._seq is None:
            if self.recover:
                self._recover()
            try:
                names = os.listdir(self.directory)
            except FileNotFoundError:
                os.makedirs(self.directory, exist_ok=True)
                names = []
            next_seq = getattr(self.namer, "next_seq", None)
            self._seq = next_seq(names) if next_seq is not None else 0
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
        )
        self._seq += 1
        self._archive = archive
        archive.collect = self._collect
        for checker in self.roll_checkers:
            checker.start(archive)
        self._limits_from_checkers()  # a checker's start() may change its limit
        self._last_flush = self.clock.monotonic()
        self._run_callbacks("on_open", archive.filename)
        if (self._timed or self.flush_interval) and not self._closed:  # close() stops it
            self._start_ticker()
        return archive

    def _recover(self) -> None:
        """Seal in-progress files that dead writers of this template left here, and run their
        pending on-close steps (once per file: a sealed file is no longer in progress)."""
        regex = getattr(self.namer, "regex", None)
        found = recover_directory(
            self.directory, pattern=regex() if regex is not None else None, clock=self.clock
        )
        handed = set()
        for item in found:
            self.recovered.append(item)
            if item.sealed is not None:
                self._hand_over(item.sealed, resumed=True)
                handed.add(os.path.abspath(item.sealed))
        if self._chain.journaled:
            # Sealed files whose chain a dead process did not finish (killed between steps, or
            # given up on), as their journals say: resumed at their first step not done.
            for archive in pending_archives(
                self.directory, pattern=regex() if regex is not None else None
            ):
                if archive not in handed:
                    self._hand_over(archive, resumed=True)

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
        return self._hand_over(final)

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
            self._hand_over(saved.sealed)

    def _hand_over(self, final: str, *, resumed: bool = False) -> str:
        """Give a sealed file to its on-close chain: queued for the worker, or run now.

        Files ``resumed`` after a restart are queued even beyond the backlog bound (they are on
        disk already); later rolls then wait for room.
        """
        if self.closer is None:
            return self._run_callbacks("on_close", final)
        # Blocks while the backlog is full, or raises BacklogFull.
        self.closer.submit(final, force=resumed)
        return final

    def _run_callbacks(self, hook: str, name: str) -> str:
        try:
            if hook == "on_open":
                self._chain.on_open(name)
                return name
            return self._chain.on_close(name)
        except CallbackError as exc:
            # The record that triggered the roll is safe in the sealed file: report, don't raise
            # from write() (a caller retrying would duplicate it). close() raises them.
            self.callback_errors.append(exc)
            return exc.path

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
            for checker in self._timed:
                if checker.check(archive):
                    self._roll()
                    return self.tick_interval
                seconds_left = getattr(checker, "seconds_left", None)  # absent on duck types
                left = seconds_left(archive) if seconds_left is not None else None
                if left is not None:
                    wait = min(wait, max(left, 0.001))
            return wait

    def _start_ticker(self) -> None:
        if self._ticker is not None and self._ticker.is_alive():
            # It may be sleeping a whole tick_interval (nothing was open): the new archive's
            # flush interval and time-based checks start now.
            self._wake.set()
            return
        self._stop.clear()
        self._wake.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="shoebox-ticker", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        wait = 0.0  # tick at once: tick() says how long until something is due
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                wait = self.tick()
            except Exception:  # keep the timer alive; the error is logged, records are safe
                log.exception("shoebox: timer tick failed for %s", self.directory)
                wait = self.tick_interval

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Seal the active archive, run its on-close chain and stop the timer.

        Raises CallbackError (after everything is sealed) if any callback failed during this
        writer's life; the files concerned were kept.
        """
        with self._lock:
            self._closed = True
            self._stop.set()
            self._wake.set()
            self._roll()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)
        if self.closer is not None:
            if not self.closer.close(self.close_timeout):
                log.warning(
                    "shoebox: close_timeout (%s s) ran out with %d sealed files not shipped; they "
                    "stay in %s with their journals and resume at the next start",
                    self.close_timeout, len(self.closer.pending()), self.directory,
                )
            self.callback_errors.extend(self.closer.errors)
            self.closer.errors = []
        if self.callback_errors:
            errors, self.callback_errors = self.callback_errors, []
            first = errors[0]
            if len(errors) == 1:
                raise first
            raise CallbackError(
                f"{len(errors)} callback failures; first: {first}",
                callback=first.callback,
                path=first.path,
                skipped=first.skipped,
            ) from first

    def shipping_stats(self) -> ShippingStats:
        """Counters of the on-close chain: files done and failed, retries, the backlog and the
        age of its oldest file, files and bytes the transfers shipped (see
        :class:`~shoebox_core.ship.chain.ShippingStats`)."""
        files, size, present = self._chain.transfer_stats()
        if self.closer is None:
            return ShippingStats(files_done=len(self.sealed) - len(self.callback_errors),
                                 files_failed=len(self.callback_errors), shipped_files=files,
                                 shipped_bytes=size, already_present=present)
        stats = self.closer.stats()
        return ShippingStats(
            files_done=stats.done,
            files_failed=stats.failed,
            retries=stats.retries,
            backlog=stats.backlog,
            oldest_age=stats.oldest_age,
            shipped_files=files,
            shipped_bytes=size,
            already_present=present,
        )

    def __enter__(self) -> WritingRollManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_many(self, records: Iterable[tuple[dict[str, str], str | bytes]]) -> None:
        """Write each ``(metadata, payload)`` of ``records``, in order, with the checks of
        :meth:`write`, made a batch at a time (well over twice as fast per record).

        A record refused (TypeError, RecordTooLarge, an encoding error) raises; the records before
        it are written, those after it are not.
        """
        iterator = iter(records)
        while batch := list(islice(iterator, _MANY)):
            packed = _pack_batch(batch, self.max_record_bytes)
            if packed is not None:
                self._write_now(packed)
                continue
            write = self.write
            for metadata, payload in batch:
                write(metadata, payload)

    def __repr__(self) -> str:
        return (
            f"WritingRollManager({self.filename_template!r}, {self.roll_checker!r}, "
            f"directory={self.directory!r})"
        )
