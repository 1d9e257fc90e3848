"""The undo journal of an append to a destination.

Appending to a zip file writes new entries over its central directory and then a new central
directory after them: a collector killed midway leaves a file no tool can read. So before the
first byte is written, the journal saves what the append will overwrite: for each part touched,
its size and the bytes from the start of its central directory to its end (central directory and
end records). Undoing writes them back and cuts the file to its old size (a part the append
created is removed): the destination is again exactly what it was, every old entry intact. The
journal is written under a temporary name, fsynced and renamed, so it is either whole or absent;
it is removed once the append is fsynced, which is the append's commit point.

Format: one line of JSON (``{"version": 1, "parts": [{"file", "old_size", "cd_offset",
"tail_len", "tail_sha256"}...]}``) followed by the saved tails, in the order of ``parts``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import secrets
from dataclasses import dataclass

from shoebox_core.errors import ShoeboxError

from ._core import fsync_dir

__all__ = ["Journal", "PartBefore", "undo"]


@dataclass(frozen=True)
class PartBefore:
    """One part as it was before the append: ``file`` (a name under the base directory),
    ``old_size`` (0: created by the append), ``cd_offset`` and ``tail`` (bytes from there to
    the end)."""

    file: str
    old_size: int
    cd_offset: int = 0
    tail: bytes = b""


class Journal:
    """The journal file of one destination archive, in ``directory``."""

    def __init__(self, directory: str, archive: str, base: str) -> None:
        self.path = os.path.join(directory, archive + ".journal")
        self.directory = directory
        self.archive = archive
        self.base = base
        self.parts: list[PartBefore] = []

    def exists(self) -> bool:
        """True when an append was started and not committed (or undone)."""
        return os.path.exists(self.path)

    def record(self, part: PartBefore) -> None:
        """Add ``part`` and make the journal durable before the part is touched."""
        self.parts.append(part)
        head = {"version": 1, "archive": self.archive, "parts": [
            {"file": p.file, "old_size": p.old_size, "cd_offset": p.cd_offset,
             "tail_len": len(p.tail), "tail_sha256": hashlib.sha256(p.tail).hexdigest()}
            for p in self.parts
        ]}
        temp = os.path.join(
            self.directory, f".{self.archive}.journal.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        )
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(head).encode() + b"\n")
                for p in self.parts:
                    out.write(p.tail)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
        fsync_dir(self.directory)

    def commit(self) -> None:
        """The append is durable: forget how to undo it."""
        if os.path.exists(self.path):
            os.unlink(self.path)
            fsync_dir(self.directory)
        self.parts = []

    def remove_stale_temporaries(self) -> None:
        """Remove temporary journals a killed collector left (the lock is held)."""
        for temp in glob.glob(os.path.join(glob.escape(self.directory),
                                           glob.escape(f".{self.archive}.journal.") + "*.tmp")):
            os.unlink(temp)

    def undo(self) -> list[str]:
        """Put every part back as the journal says it was, then remove the journal.

        Returns the parts restored. Idempotent: undoing twice (a collector killed while undoing)
        gives the same files. ``ShoeboxError`` if the journal itself is damaged.
        """
        parts = _read(self.path)
        restored = []
        for part in reversed(parts):
            path = os.path.join(self.base, part.file)
            if part.old_size == 0:
                if os.path.exists(path):
                    os.unlink(path)
                    restored.append(path)
                continue
            with open(path, "r+b") as f:
                f.seek(part.cd_offset)
                f.write(part.tail)
                f.truncate(part.old_size)
                f.flush()
                os.fsync(f.fileno())
            restored.append(path)
        fsync_dir(self.base)
        self.commit()
        return restored


def _read(path: str) -> list[PartBefore]:
    with open(path, "rb") as f:
        line = f.readline()
        try:
            head = json.loads(line)
            parts = []
            for item in head["parts"]:
                tail = f.read(item["tail_len"])
                if hashlib.sha256(tail).hexdigest() != item["tail_sha256"]:
                    raise ValueError("saved bytes fail their checksum")
                parts.append(PartBefore(item["file"], item["old_size"], item["cd_offset"], tail))
        except (ValueError, KeyError, TypeError) as exc:
            raise ShoeboxError(
                f"undo journal {path} is damaged ({exc}); its destination is left untouched: "
                "check it with `unzip -t`, then remove the journal"
            ) from exc
    return parts


def undo(directory: str, archive: str, base: str) -> list[str]:
    """Undo the torn append of ``archive`` if its journal is there (the lock must be held)."""
    journal = Journal(directory, archive, base)
    journal.remove_stale_temporaries()
    return journal.undo() if journal.exists() else []
