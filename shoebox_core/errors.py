"""The library's errors: one base class and a handful of meaningful subclasses.

Each error carries the object at fault (a file and byte offset, a plugin name, a callback) so that a
message can say what went wrong, where, and what to do next. Which to catch for what::

    ShoeboxError                  anything shoebox raises on purpose
    +-- ConfigError               a bad option, config key or value (names the key and the file)
    +-- PluginError               a plugin or strategy cannot be found, loaded or built
    +-- ArchiveError              a file cannot be read or written as asked (path, offset)
    |   +-- CorruptArchive        stored bytes fail their checksum or the format
    |   |   +-- TruncatedArchive  the file ends before its end marker
    |   +-- JournalError          a shipping journal cannot be read
    |   +-- TransferError         an upload failed or could not be checked; the local file is kept
    |       +-- VerificationError the remote copy differs from the local file
    |       +-- ObjectNameError   no safe object name for this archive (retrying cannot help)
    +-- RemoteError               a bucket or container cannot be reached or used (url, cause)
    +-- CallbackError             an on-open / on-close step failed (callback, path, skipped)
    |   +-- JournalConflict       the archive's journal belongs to another chain or archive
    +-- RecordTooLarge            a record is larger than ``max_record_bytes`` (also ValueError)
    +-- MissingField              a record lacks a metadata field the input needs (also LookupError)
    +-- BacklogFull               too many sealed files wait to be shipped (``when_full="raise"``)
    +-- NoMoreFiles               a reading manager has read every archive (the seed's signal)
    +-- CommandError              a ``shoebox`` command stops with a message and an exit status

Damage to an archive is of one of FORMAT.md's two kinds, ``"truncated"`` or ``"corrupt"``: a
:class:`CorruptArchive` says which in ``kind``, and its ``reason`` (the text a lenient reader
passes to ``report(offset, skipped, reason)``) is a :class:`DamageReason` that says it too.

An error marked ``permanent = True`` (:class:`ObjectNameError`, :class:`JournalConflict`) is not
retried by the shipping worker: the archive is kept and reported.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "BacklogFull",
    "CallbackError",
    "CommandError",
    "ConfigError",
    "CorruptArchive",
    "JournalConflict",
    "JournalError",
    "MissingField",
    "NoMoreFiles",
    "ObjectNameError",
    "PluginError",
    "RecordTooLarge",
    "RemoteError",
    "ShoeboxError",
    "TransferError",
    "TruncatedArchive",
    "VerificationError",
]


class ShoeboxError(Exception):
    """Base class of every error shoebox raises on purpose."""


class ConfigError(ShoeboxError, ValueError):
    """A configuration value is wrong; the message names the key (and the file, if any)."""


class PluginError(ShoeboxError):
    """A plugin cannot be found, loaded or created; the message names the plugin, its kind and
    distribution, and lists the valid choices."""


class ArchiveError(ShoeboxError):
    """An archive file cannot be read or written as asked; ``path`` and ``offset`` say where."""

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


TRUNCATED = "truncated"
CORRUPT = "corrupt"


class DamageReason(str):
    """The reason of a damage report, which says its ``kind`` (:data:`TRUNCATED` or
    :data:`CORRUPT`, FORMAT.md's two kinds) besides its text: a reader tells a cut tail from
    damage by the kind, never by the wording. Compares, prints and serialises as its text."""

    kind: str

    def __new__(cls, text: str, kind: str) -> DamageReason:
        if kind not in (TRUNCATED, CORRUPT):
            raise ValueError(f"a damage kind is {TRUNCATED!r} or {CORRUPT!r}, not {kind!r}")
        reason = super().__new__(cls, text)
        reason.kind = kind
        return reason

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # pickled with kind
        return str(self), self.kind


class CorruptArchive(ArchiveError):
    """Stored bytes fail their checksum or do not follow the format.

    ``path`` and ``offset`` say where the damage starts; ``kind`` is ``"corrupt"`` (and
    ``"truncated"`` for :class:`TruncatedArchive`), also said by ``reason``. A lenient reader
    skips to the next good block instead of raising this.
    """

    kind = CORRUPT

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message, path=path, offset=offset)
        self.reason: DamageReason = DamageReason(message, self.kind)


class TruncatedArchive(CorruptArchive):
    """The archive ends before its end marker: the writer was killed or the copy was cut short."""

    kind = TRUNCATED


class JournalError(ArchiveError):
    """A shipping journal file (``path``) cannot be read: damaged, or written by a newer shoebox."""


class TransferError(ArchiveError):
    """An upload failed or could not be checked; the local file (``path``) is kept."""


class VerificationError(TransferError):
    """The remote copy does not match the local file (size or checksum); the local file is kept."""


class ObjectNameError(TransferError, ValueError):
    """An object name cannot be made for an archive: a field is missing, or a value would leave
    the prefix. Retrying cannot help (``permanent``): the archive is kept and reported."""

    permanent = True


class RemoteError(ShoeboxError):
    """A remote store (``url``) could not be reached or used; ``cause`` says why in a few words.

    ``permanent`` is True when retrying cannot help (no such bucket or container, access denied,
    bad or missing credentials) and False for a store that is down, slow or busy.
    """

    def __init__(self, url: str, cause: str, *, permanent: bool = False) -> None:
        self.url = url
        self.cause = cause
        self.permanent = permanent
        super().__init__(f"{url}: {cause}")


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


class JournalConflict(CallbackError):
    """The journal at an archive's name cannot serve this chain: it belongs to an earlier archive
    whose chain is unfinished, or it records other steps (the configuration changed while files
    were pending). The file is kept and nothing is run (``permanent``): finish it with the old
    configuration, ``shoebox recover``, or by hand."""

    permanent = True


class RecordTooLarge(ShoeboxError, ValueError):
    """A record is larger than the writer's ``max_record_bytes``."""


class MissingField(ShoeboxError, LookupError):
    """A metadata field or expression found nothing in a record (with ``missing="error"``);
    ``name`` is the metadata key and ``source`` the field or expression that found nothing."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        super().__init__(f"metadata {name!r}: {source} is missing from the record")


class BacklogFull(ShoeboxError):
    """The backlog of sealed files waiting for their on-close chain is full (policy "raise"); the
    message names the file that was sealed and waits."""


class NoMoreFiles(ShoeboxError):
    """Raised by ``ReadingRollManager.read()`` once every matching archive has been read."""


class CommandError(ShoeboxError):
    """A failure a ``shoebox`` command (or a plugin's subcommand) reports in one line, exiting
    with status ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
