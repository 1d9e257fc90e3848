"""What shipping learns and reports: what a store says about an object (:class:`RemoteInfo`), a
verified remote copy (:class:`Shipped`) and a transfer's counters (:class:`TransferStats`).

Kept apart from :mod:`shoebox_core.ship.transfer`, which re-exports them, so that the transfer
module holds only the shipping logic.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RemoteInfo", "Shipped", "TransferStats"]


@dataclass(frozen=True)
class RemoteInfo:
    """What a store says about an object: ``size``, ``etag`` (unquoted, lower case, or None) and
    user ``metadata``."""

    size: int | None
    etag: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Shipped:
    """A verified remote copy: its ``url`` (with protocol) and file-system ``path``, ``size`` and
    ``md5``; ``uploaded`` is False when it was found already there; ``verified_by`` is ``"etag"``
    or ``"read-back"``."""

    url: str
    path: str
    size: int
    md5: str
    uploaded: bool
    verified_by: str


class TransferStats:
    """Counters of one transfer, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files = 0  # uploaded and verified
        self.bytes = 0
        self.already_present = 0  # found there and verified: not uploaded again
        self.read_back = 0  # verified by reading the object back
        self.collisions = 0  # names taken by other content, skipped
        self.removed = 0  # local files deleted after verification

    def add(self, **counts: int) -> None:
        """Add ``counts`` to the counters of the same names."""
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, int]:
        """The counters, by name."""
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        return f"TransferStats({self.as_dict()})"
