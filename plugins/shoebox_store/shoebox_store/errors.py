"""The store's errors. A missing key is a plain :class:`KeyError`, as in encore.storage."""

from __future__ import annotations

from shoebox_core.errors import ConfigError, CorruptArchive, ShoeboxError, TruncatedArchive

__all__ = [
    "CorruptArchive",
    "InvalidKey",
    "NotAStore",
    "StoreError",
    "StoreLocked",
    "TruncatedArchive",
]


class StoreError(ShoeboxError):
    """Base class of the errors a store raises on purpose (besides ``KeyError``)."""


class NotAStore(StoreError, ConfigError):
    """A path or URL is not a store: no magic file, or not the kind asked for."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class InvalidKey(StoreError, ValueError):
    """A key is not a string, is empty, or would name a file outside the store's root."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        super().__init__(f"invalid key {key!r}: {reason}")


class StoreLocked(StoreError):
    """Another process has the archive store open for writing."""
