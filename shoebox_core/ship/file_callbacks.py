"""On-close callbacks that move, rename or delete a sealed archive.

None of them ever overwrites a file: when the name they want is taken they use the first free
alternative (``a~001.events``), see :func:`~shoebox_core._fsutil.rename_no_clobber`.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module

from .._fsutil import COMPRESSION_SUFFIXES, fsync_dir, rename_no_clobber
from ..errors import ArchiveError, ConfigError
from ..options import boolean
from ..ship.callbacks import ArchiveCallback
from ..ship.compress import CHUNK_SIZE, _Fingerprint, create_partial

__all__ = ["ChangeExtensionCallback", "DeleteCallback", "MoveCallback"]


class MoveCallback(ArchiveCallback):
    """On close, move the archive into ``directory``; return its new name.

    ``create`` makes the directory (and its parents) when missing. A move to another file system
    copies the file to a partial name in ``directory``, fsyncs and checks it (size and CRC32C),
    renames it into place, and only then deletes the source.
    """

    name = "move"
    #: The file leaves the writer's directory for another owner: no later step may run on it.
    local_effect = "moves"

    def __init__(self, *, directory: str | os.PathLike[str], create: object = True) -> None:
        super().__init__()
        if isinstance(directory, os.PathLike):
            directory = os.fspath(directory)
        if not isinstance(directory, str) or not directory.strip():
            raise ConfigError(
                f"MoveCallback: option 'directory' must be a directory path, got {directory!r}"
            )
        self.directory = os.path.expanduser(directory)
        self.create = boolean(create, "create", owner="MoveCallback")

    def __repr__(self) -> str:
        return f"MoveCallback(directory={self.directory!r}, create={self.create!r})"

    def on_close(self, filename: str) -> str | None:
        """Move ``filename`` into the directory; ``None`` if it is already there."""
        source = os.fspath(filename)
        os.stat(source)  # a missing source fails here, before any directory is made
        if not os.path.isdir(self.directory):
            if not self.create:
                raise ArchiveError(
                    f"cannot move into {self.directory}: no such directory (create is false)",
                    path=source,
                )
            os.makedirs(self.directory, exist_ok=True)
            fsync_dir(os.path.dirname(os.path.abspath(self.directory)))
        if os.path.samefile(os.path.dirname(source) or ".", self.directory):
            return None
        target = os.path.join(self.directory, os.path.basename(source))
        try:
            return rename_no_clobber(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        return _move_across_devices(source, target)


def _move_across_devices(source: str, target: str) -> str:
    """Copy ``source`` beside ``target``, check the copy, rename it, then delete ``source``."""
    before = os.stat(source)
    fd, partial = create_partial(target)
    copied = _Fingerprint()
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(CHUNK_SIZE):
                copied.update(chunk)
                out.write(chunk)
            out.flush()
            os.chmod(partial, stat_module.S_IMODE(before.st_mode))
            os.fsync(out.fileno())
        os.utime(partial, ns=(before.st_atime_ns, before.st_mtime_ns))
        _check_copy(source, partial, before.st_size, copied)
        final = rename_no_clobber(partial, target)
    except BaseException:
        _remove_quietly(partial)
        raise
    os.unlink(source)
    fsync_dir(os.path.dirname(source))
    return final


def _check_copy(source: str, partial: str, size: int, copied: _Fingerprint) -> None:
    found = _Fingerprint()
    with open(partial, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            found.update(chunk)
    on_disk = os.stat(partial).st_size
    if not (copied.length == size == on_disk and found == copied):
        raise ArchiveError(
            f"copy to {partial} failed its check: the source had {size} bytes, "
            f"{copied!r} were copied, the copy holds {found!r}; the source is kept",
            path=source,
        )


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class ChangeExtensionCallback(ArchiveCallback):
    """On close, replace the archive's last extension: ``a.events`` -> ``a.done``.

    A compression suffix is kept: ``a.events.gz`` becomes ``a.done.gz``. ``new_extension`` may be
    given with or without its leading dot; it may not contain a path separator or ``..``.
    """

    name = "change_extension"

    def __init__(self, *, new_extension: str) -> None:
        super().__init__()
        self.new_extension = _clean_extension(new_extension)

    def __repr__(self) -> str:
        return f"ChangeExtensionCallback(new_extension={self.new_extension!r})"

    def renamed(self, filename: str) -> str:
        """The name ``filename`` would get (before avoiding a taken name)."""
        head, name = os.path.split(os.fspath(filename))
        stem, extension = os.path.splitext(name)
        compression = ""
        if extension in COMPRESSION_SUFFIXES:
            compression = extension
            stem, extension = os.path.splitext(stem)
        return os.path.join(head, stem + self.new_extension + compression)

    def on_close(self, filename: str) -> str | None:
        """Rename ``filename``; ``None`` if it already has the new extension."""
        source = os.fspath(filename)
        target = self.renamed(source)
        if target == source:
            os.stat(source)
            return None
        return rename_no_clobber(source, target)


def _clean_extension(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(
            f"ChangeExtensionCallback: option 'new_extension' must be a string, got {value!r}"
        )
    extension = value.strip()
    if not extension.startswith("."):
        extension = "." + extension
    separators = {"/", "\\", os.sep, os.altsep or "/", "\0"}
    problem = None
    if extension == ".":
        problem = "is empty"
    elif any(sep in extension for sep in separators):
        problem = "contains a path separator"
    elif ".." in extension:
        problem = "contains '..'"
    if problem:
        raise ConfigError(
            f"ChangeExtensionCallback: option 'new_extension' {problem}: {value!r} "
            "(give an extension such as '.done')"
        )
    return extension


class DeleteCallback(ArchiveCallback):
    """On close, delete the archive. Put it last: later callbacks would find no file."""

    name = "delete"
    #: The file is gone afterwards: no later step may run on it.
    local_effect = "removes"

    def __init__(self) -> None:
        super().__init__()

    def __repr__(self) -> str:
        return "DeleteCallback()"

    def on_close(self, filename: str) -> None:
        """Delete ``filename``; a missing file is an error."""
        source = os.fspath(filename)
        os.unlink(source)
        fsync_dir(os.path.dirname(source))
