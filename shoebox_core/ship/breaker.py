"""The circuit breaker of the shipping worker: while the remote is down, one file probes.

Without it, each sealed file pays the whole retry schedule on its own before the next one starts
paying it again. The breaker keeps the outage's state instead of each file's: a transient
:class:`~shoebox_core.errors.RemoteError` (the store is down, slow or busy) opens it, and until
its next try is due no file is attempted; then the file at the head of the backlog probes. A
failed probe keeps it open, waiting longer each time (the :class:`RetryPolicy`'s backoff, capped
at its ``max_delay``); a success closes it and the backlog flows. Failures during an outage are
the remote's, not the file's: they do not use up a file's attempts. Permanent errors (no such
bucket, access denied) and local failures never open it.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..errors import RemoteError

if TYPE_CHECKING:
    from .background import RetryPolicy

__all__ = ["CircuitBreaker", "held_outage", "holding", "outage_of", "remote_cause"]

_HELD: contextvars.ContextVar[RemoteError | None] = contextvars.ContextVar(
    "shoebox_outage", default=None)


def held_outage() -> RemoteError | None:
    """The outage a transfer must not try to reach through now (the worker's breaker is open
    and its next probe is not due), or None: a transfer then fails at once with it."""
    return _HELD.get()


@contextlib.contextmanager
def holding(cause: RemoteError | None) -> Iterator[None]:
    """Run a chain with its remote steps failing at once with ``cause`` (:func:`held_outage`)."""
    token = _HELD.set(cause)
    try:
        yield
    finally:
        _HELD.reset(token)


def remote_cause(error: BaseException) -> RemoteError | None:
    """The :class:`RemoteError` behind ``error``, if a store failure caused it."""
    seen: BaseException | None = error
    for _ in range(6):
        if seen is None or isinstance(seen, RemoteError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def outage_of(error: BaseException) -> RemoteError | None:
    """The transient :class:`RemoteError` behind ``error`` (the store is down, slow or busy), or
    None (a permanent refusal, or no store failure at all)."""
    cause = remote_cause(error)
    return None if cause is None or cause.permanent else cause


class CircuitBreaker:
    """The remote's state as the shipping worker sees it: closed (ship), or open until a time.

    ``policy`` gives the waits (attempt ``n`` of the outage waits ``policy.delay(n)``);
    ``monotonic`` and ``rng`` may be replaced by tests.
    """

    def __init__(self, policy: RetryPolicy, *, monotonic: Callable[[], float],
                 rng: random.Random | None = None) -> None:
        self.policy = policy
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.failures = 0  # failed probes since the remote was last seen working
        self.opened = 0  # times an outage began
        self.cause: RemoteError | None = None
        self._until = 0.0

    @property
    def is_open(self) -> bool:
        """True while an outage lasts (until a probe succeeds)."""
        return self.failures > 0

    def wait(self) -> float:
        """Seconds until the next probe may run (0: now)."""
        with self._lock:
            if not self.failures:
                return 0.0
            return max(0.0, self._until - self._monotonic())

    def failed(self, cause: RemoteError) -> float:
        """A probe (or a shipment) failed with the transient ``cause``: open (or keep open) the
        breaker; return the seconds until the next probe."""
        with self._lock:
            if not self.failures:
                self.opened += 1
            self.failures += 1
            self.cause = cause
            delay = self.policy.delay(self.failures, self._rng)
            self._until = self._monotonic() + delay
            return delay

    def succeeded(self) -> None:
        """A shipment went through: the remote works, the breaker closes."""
        with self._lock:
            self.failures = 0
            self.cause = None
            self._until = 0.0
