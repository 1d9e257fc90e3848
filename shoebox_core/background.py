"""Running the on-close chain of sealed files off the write path.

A writer seals a file in microseconds; compressing or uploading it takes far longer. The
:class:`BackgroundCloser` takes sealed files into a bounded backlog and runs the on-close chain for
each, in order, in one worker thread, so ``write()`` only waits when the backlog is full.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import CallbackError, ShoeboxError

__all__ = ["BackgroundCloser", "BacklogFull", "CloserStats"]

log = logging.getLogger("shoebox")


class BacklogFull(ShoeboxError):
    """The backlog of sealed files waiting for their on-close chain is full (policy "raise")."""


@dataclass(frozen=True)
class CloserStats:
    """A snapshot of what the background worker did and has left to do."""

    done: int
    failed: int
    backlog: int
    oldest_age: float  # seconds the oldest waiting file has waited (0 when none)


class BackgroundCloser:
    """Run ``close(path)`` for every submitted file, in submission order, in a worker thread.

    ``max_backlog`` bounds the files waiting; when it is reached ``submit`` blocks (``when_full=
    "block"``, the default: the writer slows down to the pace of the chain) or raises
    :class:`BacklogFull` (``"raise"``). Failures (:class:`CallbackError`) are kept in ``errors``;
    the file concerned stays on disk.
    """

    def __init__(
        self,
        close: Callable[[str], str],
        *,
        max_backlog: int = 64,
        when_full: str = "block",
        monotonic: Callable[[], float] = time.monotonic,
        name: str = "shoebox-closer",
    ) -> None:
        if when_full not in ("block", "raise"):
            raise ValueError(f"when_full must be 'block' or 'raise', got {when_full!r}")
        if max_backlog < 1:
            raise ValueError(f"max_backlog must be at least 1, got {max_backlog!r}")
        self._close = close
        self.max_backlog = max_backlog
        self.when_full = when_full
        self._monotonic = monotonic
        self._name = name
        self._queue: deque[tuple[str, float]] = deque()
        self._busy = 0  # files taken from the queue and not finished
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.done: list[str] = []  # final names after the chain, in order
        self.errors: list[CallbackError] = []

    def submit(self, path: str) -> None:
        """Queue ``path`` for its on-close chain; waits (or raises) while the backlog is full."""
        with self._cond:
            if self._stopping:
                raise ShoeboxError("submit() on a closed BackgroundCloser")
            while len(self._queue) + self._busy >= self.max_backlog:
                if self.when_full == "raise":
                    raise BacklogFull(
                        f"{len(self._queue) + self._busy} sealed files are waiting for their "
                        f"on-close chain (max_backlog={self.max_backlog}); {path} was sealed and "
                        "stays where it is"
                    )
                self._cond.wait()
            self._queue.append((path, self._monotonic()))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                path, _since = self._queue.popleft()
                self._busy += 1
            try:
                final = self._close(path)
            except CallbackError as exc:
                with self._cond:
                    self.errors.append(exc)
            except Exception as exc:  # a bug in our own code: keep the worker alive, say so
                log.exception("shoebox: on-close of %s failed", path)
                with self._cond:
                    self.errors.append(
                        CallbackError(f"on-close of {path} failed: {exc!r}", callback="?",
                                      path=path)
                    )
            else:
                with self._cond:
                    self.done.append(final)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def stats(self) -> CloserStats:
        """Counters and the backlog, for monitoring."""
        with self._cond:
            oldest = self._queue[0][1] if self._queue else None
            return CloserStats(
                done=len(self.done),
                failed=len(self.errors),
                backlog=len(self._queue) + self._busy,
                oldest_age=0.0 if oldest is None else max(0.0, self._monotonic() - oldest),
            )

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted file has been handled; False if ``timeout`` ran out."""
        deadline = None if timeout is None else self._monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = None if deadline is None else deadline - self._monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Finish the backlog and stop the worker; False if ``timeout`` ran out first."""
        finished = self.drain(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and finished:
            self._thread.join(timeout)
        return finished
