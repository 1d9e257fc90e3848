"""The library's errors: one base class and a handful of meaningful subclasses.

Each error carries the object at fault (a file and byte offset, a plugin name, a callback) so that a
message can say what went wrong, where, and what to do next.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "CallbackError",
    "ConfigError",
    "CorruptArchive",
    "PluginError",
    "RecordTooLarge",
    "ShoeboxError",
    "TruncatedArchive",
]


class ShoeboxError(Exception):
    """Base class of every error shoebox raises on purpose."""


class ArchiveError(ShoeboxError):
    """An archive file cannot be read or written as asked."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        self.path = path
        self.offset = offset
        where = ""
        if path is not None:
            where = f"{path}"
            if offset is not None:
                where += f" at byte {offset}"
            where += ": "
        super().__init__(where + message)
        self.reason = message


class CorruptArchive(ArchiveError):
    """Stored bytes fail their checksum or do not follow the format.

    ``path`` and ``offset`` say where the damage starts. A lenient reader skips to the next good
    block instead of raising this.
    """


class TruncatedArchive(CorruptArchive):
    """The archive ends before its end marker: the writer was killed or the copy was cut short."""


class RecordTooLarge(ShoeboxError, ValueError):
    """A record is larger than the writer's ``max_record_bytes``."""


class PluginError(ShoeboxError):
    """A plugin cannot be found, loaded or created."""


class ConfigError(ShoeboxError, ValueError):
    """A configuration value is wrong; the message names the key (and the file, if any)."""


class CallbackError(ShoeboxError):
    """An on-open or on-close callback failed; the file it was handling is kept.

    ``callback`` names the callback, ``path`` the file it was given and ``skipped`` the names of the
    callbacks later in the chain that did not run for this file.
    """

    def __init__(self, message: str, *, callback: str, path: str, skipped: tuple[str, ...] = ()):
        self.callback = callback
        self.path = path
        self.skipped = skipped
        super().__init__(message)
