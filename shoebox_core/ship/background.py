"""Running the on-close chain of sealed files off the write path, with retries.

A writer seals a file in microseconds; compressing or uploading it takes far longer. The
:class:`BackgroundCloser` takes sealed files into a bounded backlog and runs the on-close chain for
each, in order, in one worker thread, so ``write()`` only waits when the backlog is full.

A failed chain is retried (:class:`RetryPolicy`: exponential backoff with jitter, up to
``max_attempts``) before the worker moves on; the head of the backlog waits meanwhile, so a dead
remote fills the backlog instead of failing every file in turn. A file that used up its attempts is
kept where it is, reported (``errors``, ``stats().failed``, a ``"failed"`` event) and *parked*: it
is tried again, with a fresh set of attempts, after a later file succeeds (the remote is back) or
``requeue_after`` seconds. While the remote is down (a transient
:class:`~shoebox_core.errors.RemoteError`), the waits are the outage's, not each file's: the
circuit breaker (:mod:`shoebox_core.ship.breaker`) lets one file probe and the others wait.
Permanent refusals (no such bucket, access denied) are not retried, only tried again after a later
success. At :meth:`~BackgroundCloser.close`, each parked file but those refused gets one last
try: a file that ships then is no longer reported. The chain must be resumable (a
:class:`~shoebox_core.ship.chain.ShippingChain` is): each attempt calls it again with the sealed
name.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from ..errors import BacklogFull, CallbackError, ShoeboxError
from .breaker import CircuitBreaker, holding, outage_of, remote_cause
from .progress import CloserStats, ShippingEvent
from .retry import RetryPolicy, is_permanent

__all__ = ["BackgroundCloser", "BacklogFull", "CloserStats", "RetryPolicy", "ShippingEvent",
           "is_permanent"]

log = logging.getLogger("shoebox")


class BackgroundCloser:
    """Run ``close(path)`` for every submitted file, in submission order, in a worker thread.

    ``max_backlog`` bounds the files waiting; when it is reached ``submit`` blocks (``when_full=
    "block"``, the default: the writer slows down to the pace of the chain) or raises
    :class:`BacklogFull` (``"raise"``; the file is remembered and queued as soon as there is room).
    A failing ``close`` is retried as ``retry`` (a :class:`RetryPolicy` or a mapping of its fields)
    says (default: a single attempt); files that fail every attempt are kept in ``errors`` (the
    file stays on disk) and tried again later. ``on_event`` receives a :class:`ShippingEvent` for
    each thing that happens. ``sleep`` (seconds -> None), ``monotonic`` and ``rng`` may be
    replaced by tests; the default sleep is cut short by :meth:`close` when its timeout runs out.
    """

    def __init__(
        self,
        close: Callable[[str], str],
        *,
        max_backlog: int = 64,
        when_full: str = "block",
        monotonic: Callable[[], float] = time.monotonic,
        name: str = "shoebox-closer",
        retry: RetryPolicy | Mapping[str, object] | None = None,
        on_event: Callable[[ShippingEvent], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if when_full not in ("block", "raise"):
            raise ValueError(f"when_full must be 'block' or 'raise', got {when_full!r}")
        if max_backlog < 1:
            raise ValueError(f"max_backlog must be at least 1, got {max_backlog!r}")
        self._close = close
        self.max_backlog = max_backlog
        self.when_full = when_full
        # No retry unless asked: a plain chain (compression) fails the same way every time.
        self.retry = (
            RetryPolicy(max_attempts=1) if retry is None else RetryPolicy.from_options(retry)
        )
        self._monotonic = monotonic
        self._name = name
        self._on_event = on_event
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.breaker = CircuitBreaker(self.retry, monotonic=monotonic, rng=self._rng)
        self._queue: deque[tuple[str, float]] = deque()
        self._deferred: deque[tuple[str, float]] = deque()  # refused by a full backlog ("raise")
        self._parked: list[tuple[str, float, float]] = []  # (path, since, parked at)
        self._second_chance: set[str] = set()  # requeued parked files: one attempt each
        self._failed: dict[str, CallbackError] = {}  # the error kept for each failed file
        self._current: tuple[str, float] | None = None
        self._busy = 0  # files taken from the queue and not finished
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closing = False  # close(): parked files get their last try
        self._held_at_close = False  # a last try found the remote still down: hold the others
        self._abandon = threading.Event()
        self.done: list[str] = []  # final names after the chain, in order
        self.errors: list[CallbackError] = []
        self._attempts = 0
        self._retries = 0
        self._requeued = 0

    # -- submitting -----------------------------------------------------------------------------
    def submit(self, path: str, *, force: bool = False) -> None:
        """Queue ``path`` for its on-close chain; waits (or raises) while the backlog is full.

        ``force`` queues it even then (files found pending at start-up, already on disk).
        """
        with self._cond:
            if self._stopping:
                raise ShoeboxError("submit() on a closed BackgroundCloser")
            while not force and self._size() >= self.max_backlog:
                if self.when_full == "raise":
                    self._deferred.append((path, self._monotonic()))
                    raise BacklogFull(
                        f"{self._size()} sealed files are waiting for their on-close chain "
                        f"(max_backlog={self.max_backlog}); {path} was sealed and stays where it "
                        "is, queued as soon as there is room"
                    )
                self._cond.wait()
            self._queue.append((path, self._monotonic()))
            self._start()
            self._cond.notify_all()

    def _size(self) -> int:
        return len(self._queue) + self._busy

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    # -- the worker -----------------------------------------------------------------------------
    def _next(self) -> tuple[str, float] | None:
        """The next file to handle (None: stop), waiting for one; called with the lock held."""
        while True:
            if self._abandon.is_set():
                return None
            while self._deferred and self._size() < self.max_backlog:
                self._queue.append(self._deferred.popleft())
            if self._queue:
                return self._queue.popleft()
            if self._stopping:
                return None
            wait = None
            if self._closing:  # the last tries were queued by close(): no more rounds
                self._cond.wait()
                continue
            if self._parked and self.retry.requeue_after is not None:
                due = min(at for _, _, at in self._parked) + self.retry.requeue_after
                wait = due - self._monotonic()
                if wait <= 0:
                    self._requeue_parked()
                    continue
            if self._parked and self.breaker.is_open and remote_cause(
                    self._failed.get(self._parked[0][0]) or Exception()) is not None:
                # The remote is down: its oldest parked file probes when the breaker says.
                probe = self.breaker.wait()
                if probe <= 0:
                    path, since, _ = self._parked.pop(0)
                    self._second_chance.add(path)
                    return path, since
                wait = probe if wait is None else min(wait, probe)
            self._cond.wait(wait)

    def _requeue_parked(self) -> list[str]:
        paths = [path for path, _, _ in self._parked]
        self._second_chance.update(paths)
        self._queue.extend((path, since) for path, since, _ in self._parked)
        self._requeued += len(self._parked)
        self._parked = []
        return paths

    def _last_round(self) -> bool:
        """Queue the parked files for their last try (close()), but for refusals by the store
        (no such bucket: tried again only after a later success); False if there are none."""
        with self._cond:
            refused = [p for p in self._parked if is_permanent(self._failed[p[0]])]
            if len(refused) == len(self._parked) or self._abandon.is_set():
                return False
            self._closing = True
            self._parked = [p for p in self._parked if p not in refused]
            paths, self._parked = self._requeue_parked(), refused
            self._cond.notify_all()
        for path in paths:
            self._emit(ShippingEvent("requeued", path))
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next()
                if item is None:
                    self._cond.notify_all()
                    return
                path, since = item
                self._busy += 1
                self._current = item
            events: list[ShippingEvent] = []
            try:
                final, error, attempt = self._attempt_all(path)
                with self._cond:
                    old = self._failed.pop(path, None)
                    if old is not None:
                        self.errors = [e for e in self.errors if e is not old]
                    if error is None:
                        self.done.append(final)
                        events.append(ShippingEvent("done", path, attempt, final=final))
                        if self._parked and not self._abandon.is_set():
                            events += [ShippingEvent("requeued", p)
                                       for p in self._requeue_parked()]
                    else:
                        self._failed[path] = error
                        self.errors.append(error)
                        # Not retried, but a refusal by the store (no such bucket, access
                        # denied) is tried again after a later success: someone fixed it.
                        if not is_permanent(error) or remote_cause(error) is not None:
                            self._parked.append((path, since, self._monotonic()))
                        events.append(ShippingEvent("failed", path, attempt, error=str(error)))
            finally:
                with self._cond:
                    self._busy -= 1
                    self._current = None
                    self._cond.notify_all()
            for event in events:
                self._emit(event)

    def _attempt_all(self, path: str) -> tuple[str, CallbackError | None, int]:
        with self._cond:
            # A parked file tried again gets one attempt: its retries were spent already.
            second = path in self._second_chance
            limit = 1 if second else self.retry.max_attempts
            self._second_chance.discard(path)
            closing = self._closing
        if closing:
            return self._last_try(path)
        breaker = self.breaker
        if breaker.is_open and not second and breaker.failures >= self.retry.max_attempts \
                and breaker.wait():
            # The remote is down, and has been for longer than a file's attempts: this file
            # runs its chain once with the remote steps failing at once (compression still
            # runs), then waits with the parked ones. One file probes, the others wait.
            with holding(breaker.cause):
                final, error = self._try(path)
            return final, error, 1
        if self._pause(breaker.wait()):  # a remote that is down: wait for the next probe
            return path, self._try_held(path), 0
        attempt = 0
        while True:
            attempt += 1
            final, error = self._try(path)
            if error is None:
                breaker.succeeded()
                return final, None, attempt
            outage = outage_of(error)
            if is_permanent(error) or attempt >= limit:
                if outage is not None:
                    delay = breaker.failed(outage)
                    self._emit(ShippingEvent("waiting", path, attempt, error=str(outage),
                                             delay=delay))
                log.error("shoebox: giving up on %s after %d attempt(s): %s", path, attempt, error)
                return path, error, attempt
            if self._abandon.is_set():
                return path, error, attempt
            # The remote is down: the wait is the outage's (the breaker's), shared by every file.
            delay = self.retry.delay(attempt, self._rng) if outage is None else (
                breaker.failed(outage))
            with self._cond:
                self._retries += 1
            kind, why = ("retry", str(error)) if outage is None else ("waiting", str(outage))
            self._emit(ShippingEvent(kind, path, attempt, error=why, delay=delay))
            if self._pause(delay):
                return path, error, attempt

    def _last_try(self, path: str) -> tuple[str, CallbackError | None, int]:
        """close()'s last try at a parked file, at once; once one finds the remote still down,
        the others are held: close() never waits for a dead remote's probe schedule."""
        breaker = self.breaker
        if self._held_at_close and breaker.is_open:
            with holding(breaker.cause):
                final, error = self._try(path)
            return final, error, 1
        final, error = self._try(path)
        if error is None:
            breaker.succeeded()
            return final, None, 1
        outage = outage_of(error)
        if outage is not None:
            self._held_at_close = True
            breaker.failed(outage)
        log.error("shoebox: giving up on %s at close: %s", path, error)
        return path, error, 1

    def _try(self, path: str) -> tuple[str, CallbackError | None]:
        """One attempt at ``path``'s chain: its final name, or the error."""
        with self._cond:
            self._attempts += 1
        try:
            return self._close(path), None
        except CallbackError as exc:
            return path, exc
        except Exception as exc:  # a bug in our own code: keep the worker alive, say so
            log.exception("shoebox: on-close of %s failed", path)
            error = CallbackError(f"on-close of {path} failed: {exc!r}", callback="?", path=path)
            error.__cause__ = exc
            return path, error

    def _try_held(self, path: str) -> CallbackError:
        """The error of a file abandoned while the remote is down (its chain is not run)."""
        error = CallbackError(f"{path} was waiting for the remote: {self.breaker.cause}",
                              callback="?", path=path)
        error.__cause__ = self.breaker.cause
        return error

    def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds (cut short by an abandoning :meth:`close`); True if abandoned."""
        if delay > 0:
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._abandon.wait(delay)
        return self._abandon.is_set()

    def _emit(self, event: ShippingEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a listener must never stop the worker
            log.exception("shoebox: shipping event listener failed on %s", event)

    # -- monitoring and shutdown ----------------------------------------------------------------
    def stats(self) -> CloserStats:
        """Counters and the backlog, for monitoring."""
        with self._cond:
            waiting = [since for _, since in self._queue] + [s for _, s in self._deferred]
            waiting += [since for _, since, _ in self._parked]
            if self._current is not None:
                waiting.append(self._current[1])
            oldest = min(waiting) if waiting else None
            return CloserStats(
                done=len(self.done),
                failed=len(self.errors),
                backlog=self._size() + len(self._deferred),
                oldest_age=0.0 if oldest is None else max(0.0, self._monotonic() - oldest),
                retries=self._retries,
                attempts=self._attempts,
                parked=len(self._parked),
                requeued=self._requeued,
                next_try=self.breaker.wait(),
            )

    def pending(self) -> list[str]:
        """Files not finished: waiting, being handled, refused by a full backlog, or parked."""
        with self._cond:
            items = [p for p, _ in self._queue] + [p for p, _ in self._deferred]
            if self._current is not None:
                items.insert(0, self._current[0])
            return items + [p for p, _, _ in self._parked]

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted file has been handled (succeeded or used up its attempts);
        False if ``timeout`` ran out."""
        deadline = None if timeout is None else self._monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or self._deferred:
                if self._deferred and self._thread is None:
                    self._start()
                left = None if deadline is None else deadline - self._monotonic()
                if left is not None and left <= 0:
                    return False
                if self._abandon.is_set() and not self._busy:
                    return False
                self._cond.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Finish the backlog and stop the worker; False if ``timeout`` ran out first.

        When it runs out, the worker stops after the step it is running (a retry wait is cut
        short); the files not finished stay on disk with their journals, for the next start
        (:meth:`pending` lists them). Parked files get one last try (in the time left): those
        that ship are no longer in :attr:`errors`.
        """
        deadline = None if timeout is None else self._monotonic() + timeout
        finished = self.drain(timeout)
        if finished and self._last_round():
            left = None if deadline is None else max(0.0, deadline - self._monotonic())
            finished = self.drain(left)
        with self._cond:
            self._stopping = True
            if not finished:
                self._abandon.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(None if finished else 30.0)
        return finished
