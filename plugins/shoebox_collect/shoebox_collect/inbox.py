"""Inbox: a worker's rolling shoebox archive that output files are staged into.

Each Inbox writes its own archives (the name holds the UTC time, host, pid and a random token, and
the core's writer never reuses a name), so workers started in the same second on one host or many
never share a file. Each staged file is handed to the operating system when it is closed, so it
survives the worker being killed; ``durability="fsync"`` makes it survive a power cut too. An inbox
archive is sealed (explicitly: renamed from its in-progress name) every ``rotate_seconds`` or
``max_inbox_bytes``, always between two files, and only sealed inboxes (or those of dead workers)
are collected.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import threading
import time as _time
import weakref
from typing import Any

from shoebox_core.errors import ShoeboxError
from shoebox_core.roll_manager import WritingRollManager

from ._layout import INBOX_SUFFIX, Layout
from ._records import StagedEntry, entry_meta
from .destination import Destination, parse_destination
from .staged import StagedFile, StagedTextFile

__all__ = ["Inbox"]

MiB = 1024 * 1024
_REGULAR_644 = stat.S_IFREG | 0o644
#: The accepted values of ``Inbox(durability=...)``.
DURABILITY = ("close", "fsync", "batch")


class _SystemClock:
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)


class Inbox:
    """A worker's inbox under ``base`` (``base`` and its ``.shoebox/inbox`` are created).

    :param rotate_seconds: seal the inbox archive this long after its first file (checked by a
        timer, so an idle worker's files are not held back), at the next moment no file is open.
    :param max_inbox_bytes: seal it once it holds this much, between two files.
    :param chunk_bytes: the most of a file held in memory: larger files go in chunks of this size.
    :param durability: when a closed file is safe. ``"close"`` (the default): handed to the
        operating system as it is closed, so it survives the worker being killed. ``"fsync"``:
        fsynced as it is closed, so it survives a power cut too (slower). ``"batch"``: written with
        the files around it a block (256 KiB) at a time, and at least every ``flush_seconds``
        (the fastest; a worker killed may lose the files it closed in that last moment, never
        part of a file). Every sealed inbox archive is fsynced, whatever this says.
    :param flush_seconds: the longest a closed file waits in memory with ``durability="batch"``.
    :param clock: an object with ``time()`` and ``monotonic()`` (tests pass a fake one).

    Thread-safe; use one Inbox per process (create it after forking).
    """

    def __init__(
        self,
        base: str | os.PathLike[str],
        *,
        rotate_seconds: float = 300.0,
        max_inbox_bytes: int = 256 * MiB,
        chunk_bytes: int = MiB,
        durability: str = "close",
        flush_seconds: float = 1.0,
        clock: Any = None,
    ) -> None:
        if rotate_seconds <= 0 or max_inbox_bytes <= 0 or chunk_bytes <= 0:
            raise ValueError("rotate_seconds, max_inbox_bytes and chunk_bytes must be positive")
        self.layout = Layout.at(base)
        self.layout.make()
        self.rotate_seconds = float(rotate_seconds)
        self.max_inbox_bytes = int(max_inbox_bytes)
        self.chunk_bytes = int(chunk_bytes)
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, "
                             f"got {durability!r}")
        self.durability = durability
        self._fsync = durability == "fsync"
        self.clock = clock if clock is not None else _SystemClock()
        #: This inbox's identity, part of each of its archives' names.
        self.token = secrets.token_hex(6)
        template = "%Y%m%dT%H%M%SZ_{host}_{pid}_" + self.token + "_{seq}" + INBOX_SUFFIX
        # Unbatched, each record is its own block, written at once: a closed file is in the
        # OS's hands. The collector recovers dead workers' inboxes: this writer recovers nothing.
        batched = durability == "batch"
        self._writer = WritingRollManager(
            template, None, directory=self.layout.inbox, clock=clock,
            block_records=4096 if batched else 1,
            flush_interval=float(flush_seconds) if batched else None,
            recover=False, background=False,
        )
        self._lock = threading.RLock()
        self._open: weakref.WeakSet[StagedFile] = weakref.WeakSet()
        self._next_id = 0
        self._started: float | None = None  # monotonic time of the current archive's first file
        self._bytes = 0
        self._roll_when_idle = False
        self._closed = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._timer: threading.Thread | None = None
        #: The sealed inbox archives this Inbox wrote, in order.
        self.sealed: list[str] = []

    # -- staging ----------------------------------------------------------------------------
    def open(
        self,
        dest: str | os.PathLike[str],
        mode: str = "wb",
        *,
        encoding: str = "utf-8",
        errors: str = "strict",
        newline: str | None = None,
        permissions: int = 0o644,
        mtime: float | None = None,
    ) -> Any:
        """Stage a new file at ``dest`` (``"results.zip/run7/out.txt"``): a write-only file object.

        ``mode`` is ``"wb"`` (a :class:`~shoebox_collect.staged.StagedFile`) or ``"w"`` (text, in
        ``encoding``). The file is stored when it is closed, not if its ``with`` block raises.
        ``permissions`` and ``mtime`` (epoch seconds; default: when it is closed) are recorded
        with it. ``ValueError`` names a refused destination before anything is staged.
        """
        checked = parse_destination(dest)
        if mode not in ("wb", "bw", "w", "wt", "tw"):
            raise ValueError(f"mode must be 'w' (text) or 'wb' (bytes), got {mode!r}")
        mtime_ns = None if mtime is None else int(mtime * 1e9)
        raw = self._new_file(checked, stat.S_IFREG | (permissions & 0o7777), mtime_ns)
        if "b" in mode:
            return raw
        return StagedTextFile(raw, encoding=encoding, errors=errors, newline=newline)

    def put(self, dest: str | os.PathLike[str], data: bytes | str) -> Destination:
        """Stage ``data`` (bytes, or str stored as UTF-8) at ``dest`` in one call."""
        checked = parse_destination(dest)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if len(payload) > self.chunk_bytes:
            with self.open(str(checked), "wb") as f:
                f.write(payload)
            return checked
        # The common case, kept short: one record, no file object.
        with self._lock:
            if self._closed:
                raise ShoeboxError(f"the inbox in {self.layout.base} is closed")
            self._next_id += 1
            entry = StagedEntry(str(self._next_id), checked, len(payload), _REGULAR_644,
                                self._now_ns(), hashlib.sha256(payload).hexdigest(), 0)
            self._commit(entry, payload)
            self._maybe_roll()
        return checked

    def pickup(self, path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Destination:
        """Stage the existing file at ``path`` as ``dest`` (with its mode and modification time),
        then remove ``path``, once the inbox holding its copy is fsynced.

        A file that changes while it is read is not staged and not removed (``ShoeboxError``).
        """
        checked = parse_destination(dest)
        path = os.fspath(path)
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError(f"cannot pick up {path!r}: not a regular file")
        with open(path, "rb") as source:
            before = os.fstat(source.fileno())
            staged = self._new_file(checked, before.st_mode, before.st_mtime_ns)
            try:
                while block := source.read(self.chunk_bytes):
                    staged.write(block)
                after = os.fstat(source.fileno())
                if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
                    staged._size != before.st_size
                ):
                    raise ShoeboxError(
                        f"{path} changed while it was picked up; not staged, and kept"
                    )
            except BaseException:
                staged.abort()
                raise
            staged.close()
        self.flush()
        os.unlink(path)
        return checked

    def _new_file(self, dest: Destination, mode: int, mtime_ns: int | None) -> StagedFile:
        with self._lock:
            if self._closed:
                raise ShoeboxError(f"the inbox in {self.layout.base} is closed")
            self._next_id += 1
            staged = StagedFile(self, dest, str(self._next_id), mode=mode, mtime_ns=mtime_ns)
            self._open.add(staged)
            return staged

    # -- called by StagedFile ---------------------------------------------------------------
    def _now_ns(self) -> int:
        return int(self.clock.time() * 1e9)

    def _write(self, meta: dict[str, str], payload: bytes) -> None:
        with self._lock:
            if self._closed:
                raise ShoeboxError(f"the inbox in {self.layout.base} is closed")
            self._writer.write(meta, payload)
            self._bytes += len(payload)
            if self._started is None:
                self._started = self.clock.monotonic()
                self._start_timer()

    def _commit(self, entry: StagedEntry, payload: bytes) -> None:
        with self._lock:
            self._write(entry_meta(entry), payload)
            if self._fsync:
                self._writer.flush()

    def _release(self, staged: StagedFile) -> None:
        with self._lock:
            self._open.discard(staged)
            self._maybe_roll()

    def _maybe_roll(self) -> None:
        if not self._open and not self._closed and self._due():
            self._roll()

    # -- rolling ----------------------------------------------------------------------------
    def _due(self) -> bool:
        if self._started is None:
            return False
        if self._roll_when_idle or self._bytes >= self.max_inbox_bytes:
            return True
        return self.clock.monotonic() - self._started >= self.rotate_seconds

    def _roll(self) -> str | None:
        self._roll_when_idle = False
        self._started = None
        self._bytes = 0
        final = self._writer.roll()
        if final is not None:
            self.sealed.append(final)
        return final

    def roll(self) -> str | None:
        """Seal the inbox archive now; if files are open, as soon as the last one is closed.

        Returns the sealed archive's path, or None (nothing staged, or sealing deferred).
        """
        with self._lock:
            if self._open:
                self._roll_when_idle = self._started is not None
                return None
            return self._roll()

    def flush(self) -> None:
        """Make every file closed so far durable (fsync the inbox archive)."""
        with self._lock:
            self._writer.flush()

    def tick(self) -> float:
        """Seal the inbox archive if it is due and no file is open; return the seconds until
        the next check. Run by the Inbox's timer thread; tests with a fake clock call it."""
        with self._lock:
            if self._started is None:
                return self.rotate_seconds
            if self._due():
                if not self._open:
                    self._roll()
                    return self.rotate_seconds
                self._roll_when_idle = True
                return self.rotate_seconds
            return max(0.001, self._started + self.rotate_seconds - self.clock.monotonic())

    def _start_timer(self) -> None:
        if self._timer is not None and self._timer.is_alive():
            self._wake.set()
            return
        self._timer = threading.Thread(target=self._timer_loop, name="shoebox-inbox", daemon=True)
        self._timer.start()

    def _timer_loop(self) -> None:
        while not self._stop.is_set():
            wait = self.tick()
            self._wake.wait(wait)
            self._wake.clear()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Seal the inbox archive. Files still open are abandoned (not stored)."""
        with self._lock:
            if self._closed:
                return
            for staged in list(self._open):
                staged.abort()
            self._closed = True
            self._stop.set()
            self._wake.set()
            self._started = None
            final = self._writer.roll()
            if final is not None:
                self.sealed.append(final)
            self._writer.close()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join(timeout=5)

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Inbox({self.layout.base!r}, token={self.token!r})"
