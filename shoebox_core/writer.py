"""WritingRollManager: append records to the active archive and roll it when a checker says so."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack

from .archive import _EMPTY_BLOCK as _BLOCK_OVERHEAD
from .archive import ActiveArchive
from .background import BackgroundCloser
from .callbacks import CallbackChain
from .clock import SYSTEM_CLOCK, Clock
from .errors import CallbackError, RecordTooLarge, ShoeboxError
from .naming import TemplateNamer
from .recovery import Recovered, recover_directory
from .roll_checker import NeverRollChecker, RollChecker

__all__ = ["WritingRollManager"]

log = logging.getLogger("shoebox")

MiB = 1024 * 1024
_packb = msgpack.packb


def _metadata_error(metadata: Any) -> TypeError:
    if not isinstance(metadata, Mapping):
        return TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str):
            return TypeError(f"metadata key {key!r} is {type(key).__name__}, not str")
        if not isinstance(value, str):
            return TypeError(
                f"metadata value for key {key!r} is {type(value).__name__}, not str: {value!r:.60}"
            )
    return TypeError("metadata must be a dict of str to str")


class WritingRollManager:
    """Write records to rolling archive files.

    ``filename_template`` names each file (strftime codes in UTC, ``{seq}``, ``{host}``, ``{pid}``;
    see :mod:`shoebox_core.naming`); ``roll_checker`` is one checker or a list (roll when any says
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
        self._chain = CallbackChain(archive_callback)
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
        self.closer: BackgroundCloser | None = (
            BackgroundCloser(self._chain.on_close, max_backlog=max_backlog, when_full=when_full,
                             monotonic=self.clock.monotonic)
            if background and len(self._chain)
            else None
        )
        self.recovered: list[Recovered] = []
        self.callback_errors: list[CallbackError] = []
        self.sealed: list[str] = []  # final names of the files this writer sealed, in order
        self._archive: ActiveArchive | None = None
        self._lock = threading.RLock()
        self._closed = False
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
        read back as the same type. Raises TypeError naming a bad key, RecordTooLarge."""
        try:
            for key, value in metadata.items():
                if type(key) is not str or type(value) is not str:
                    if not (isinstance(key, str) and isinstance(value, str)):
                        raise _metadata_error(metadata)
        except AttributeError:
            raise _metadata_error(metadata) from None
        kind = type(payload)
        if kind is not str and kind is not bytes:
            if isinstance(payload, (bytearray, memoryview)):
                payload = bytes(payload)
            elif not isinstance(payload, (str, bytes)):
                raise TypeError(f"payload must be str or bytes, got {kind.__name__}")
        if len(payload) > self.max_record_bytes:
            raise RecordTooLarge(
                f"payload of {len(payload)} bytes exceeds max_record_bytes={self.max_record_bytes}"
            )
        with self._lock:
            archive = self._archive
            if archive is None:
                if self._closed:
                    raise ShoeboxError("write() on a closed WritingRollManager")
                # Encode before a file exists: a record the encoder refuses (a lone surrogate, a
                # mapping that is not a dict) or one too large must not leave an empty archive.
                self._check_size(len(_packb((metadata, payload), use_bin_type=True)))
                archive = self._open_archive()
            # Raises, with nothing changed, on a record msgpack cannot encode.
            data = archive.packer.pack((metadata, payload))
            if len(data) > self.max_record_bytes:
                self._check_size(len(data))  # the metadata counts too
            archive.parts.append(data)
            buffered = archive.buffered = archive.buffered + len(data)
            archive.pending += 1
            archive.record_count += 1
            if buffered >= self.block_bytes or archive.pending >= self.block_records:
                archive.flush_block()
                size = archive.written
            else:
                size = archive.written + _BLOCK_OVERHEAD + buffered  # == archive.size
                if size >= self._roll_bytes and archive.codec:
                    # Compressed blocks: the records in memory will take less room on disk than
                    # that. Write them, and decide on the bytes the file really holds.
                    archive.flush_block()
                    size = archive.written
            if size >= self._roll_bytes or archive.record_count >= self._roll_records:
                self._roll()
            elif self._per_write:
                for checker in self._per_write:
                    if checker.check(archive):
                        self._roll()
                        break

    def _check_size(self, size: int) -> None:
        if size > self.max_record_bytes:
            raise RecordTooLarge(
                f"record of {size} bytes (metadata and payload encoded) exceeds "
                f"max_record_bytes={self.max_record_bytes}"
            )

    def flush(self) -> None:
        """Make every record written so far durable: written to the file and fsynced."""
        with self._lock:
            if self._archive is not None:
                self._archive.flush()

    def roll(self) -> str | None:
        """Seal the active archive now (if there is one); return its final name."""
        with self._lock:
            return self._roll()

    def _open_archive(self) -> ActiveArchive:
        if self._closed:
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
        for checker in self.roll_checkers:
            checker.start(archive)
        self._limits_from_checkers()  # a checker's start() may change its limit
        self._last_flush = self.clock.monotonic()
        self._run_callbacks("on_open", archive.filename)
        if self._timed or self.flush_interval:
            self._start_ticker()
        return archive

    def _recover(self) -> None:
        """Seal in-progress files that dead writers of this template left here, and run their
        pending on-close steps (once per file: a sealed file is no longer in progress)."""
        regex = getattr(self.namer, "regex", None)
        found = recover_directory(
            self.directory, pattern=regex() if regex is not None else None, clock=self.clock
        )
        for item in found:
            self.recovered.append(item)
            if item.sealed is not None:
                self._hand_over(item.sealed)

    def _roll(self) -> str | None:
        archive = self._archive
        if archive is None:
            return None
        self._archive = None
        final = archive.seal(self.clock.time())
        self.sealed.append(final)
        return self._hand_over(final)

    def _hand_over(self, final: str) -> str:
        """Give a sealed file to its on-close chain: queued for the worker, or run now."""
        if self.closer is None:
            return self._run_callbacks("on_close", final)
        self.closer.submit(final)  # blocks while the backlog is full, or raises BacklogFull
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
            self.closer.close()
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

    def __enter__(self) -> WritingRollManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_many(self, records: Iterable[tuple[dict[str, str], str | bytes]]) -> None:
        """Write each ``(metadata, payload)`` of ``records``."""
        write = self.write
        for metadata, payload in records:
            write(metadata, payload)

    def __repr__(self) -> str:
        return (
            f"WritingRollManager({self.filename_template!r}, {self.roll_checker!r}, "
            f"directory={self.directory!r})"
        )
