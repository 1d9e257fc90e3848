"""How the shipping worker retries: one policy (ours, not the store client's) and what is final.

:class:`RetryPolicy` is the backoff of a failed on-close chain (and of the circuit breaker's probes
while a remote is down, :mod:`shoebox_core.ship.breaker`); :func:`is_permanent` tells the failures
that retrying cannot cure.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..errors import ConfigError
from ..options import number

__all__ = ["RetryPolicy", "is_permanent"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed on-close chain is retried.

    Attempt ``n`` (from 1) that fails waits ``min(max_delay, initial_delay * multiplier **
    (n - 1))`` seconds, reduced by up to ``jitter`` of itself at random (so that many writers do not
    retry in step), then attempt ``n + 1`` runs; after ``max_attempts`` the file is given up for now
    (kept and reported). A given-up file is tried again after a later file succeeds or
    ``requeue_after`` seconds (None: only after a later success).
    """

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    requeue_after: float | None = 300.0

    def __post_init__(self) -> None:
        owner = "RetryPolicy"
        # Coerce strings from config files, and check ranges, in place (the class is frozen).
        set_ = object.__setattr__
        set_(self, "max_attempts", int(number(self.max_attempts, "max_attempts", owner=owner,
                                              integer=True)))
        set_(self, "initial_delay", number(self.initial_delay, "initial_delay", owner=owner,
                                           positive=False))
        set_(self, "max_delay", number(self.max_delay, "max_delay", owner=owner, positive=False))
        set_(self, "multiplier", number(self.multiplier, "multiplier", owner=owner))
        set_(self, "jitter", number(self.jitter, "jitter", owner=owner, positive=False))
        if self.requeue_after is not None:
            set_(self, "requeue_after", number(self.requeue_after, "requeue_after", owner=owner))
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ConfigError(f"{owner}: delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"{owner}: option 'jitter' must be from 0 to 1, got {self.jitter!r}")
        if self.multiplier < 1:
            raise ConfigError(f"{owner}: option 'multiplier' must be 1 or more")

    @classmethod
    def from_options(cls, options: RetryPolicy | Mapping[str, object] | None) -> RetryPolicy:
        """A policy from an instance, a mapping of its fields (a config section) or None."""
        if options is None:
            return cls()
        if isinstance(options, RetryPolicy):
            return options
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"retry: unknown option {', '.join(map(repr, unknown))}; accepted: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**options)  # type: ignore[arg-type]

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** max(attempt - 1, 0))
        draw = (rng or random).random()
        return base * (1.0 - self.jitter * draw)


def is_permanent(error: BaseException) -> bool:
    """True when retrying cannot help (the error, or the exception it wraps, says
    ``permanent = True``: a bad object name, a journal of another configuration)."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return False
        if getattr(seen, "permanent", False):
            return True
        seen = seen.__cause__
    return False
