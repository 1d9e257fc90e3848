"""The writer's timer: a daemon thread that fires time-based rolls and interval flushes.

It runs ``tick()`` (the writer's), sleeps as long as ``tick()`` says something is due in, and is
woken early when a new archive opens (its checkers' deadlines and flush interval start then) or
when the writer closes. It decides nothing itself: the writer's ``tick`` asks the roll policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Timer"]

log = logging.getLogger("shoebox")


class Timer:
    """Call ``tick`` in a daemon thread, again after the seconds it returns.

    ``fallback`` is the wait after a tick that raised (the error is logged and the timer keeps
    going: the records are safe, only a time-based roll or flush comes late); ``where`` names the
    writer in that log line.
    """

    def __init__(self, tick: Callable[[], float], *, fallback: float, where: str) -> None:
        self._tick = tick
        self._fallback = fallback
        self._where = where
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    def start(self) -> None:
        """Start the thread, or wake it if it runs: it may be sleeping a whole fallback interval
        (nothing was open), and what a new archive needs starts now."""
        if self._thread is not None and self._thread.is_alive():
            self._wake.set()
            return
        self._stop.clear()
        self._wake.clear()
        self._thread = threading.Thread(target=self._loop, name="shoebox-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it does at its next wake-up, which this triggers)."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end, unless called from it."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def _loop(self) -> None:
        wait = 0.0  # tick at once: tick() says how long until something is due
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                wait = self._tick()
            except Exception:  # keep the timer alive; the error is logged, records are safe
                log.exception("shoebox: timer tick failed for %s", self._where)
                wait = self._fallback
