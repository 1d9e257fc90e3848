"""An uploader: an on-close callback that copies each sealed archive somewhere else, checks the
copy, and leaves the local file for the next step of the chain (a ``delete``, say)."""

from __future__ import annotations

import os
from typing import Any

import crc32c
import fsspec
from shoebox_core.errors import ArchiveError, ConfigError
from shoebox_core.ship.callbacks import ArchiveCallback

__all__ = ["OutboxUploader"]

_CHUNK = 1 << 20


def _fingerprint(stream: Any) -> tuple[int, int]:
    """(size, CRC-32C) of everything ``stream`` holds."""
    size, crc = 0, 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        crc = crc32c.crc32c(chunk, crc)
    return size, crc


class OutboxUploader(ArchiveCallback):
    """Copy every sealed archive into ``url`` (a local directory or any fsspec URL: ``memory://``,
    ``s3://bucket/prefix`` with s3fs installed...), under its own name.

    The copy is written under a temporary name, read back and compared (size and CRC-32C) before
    it takes its final name, so a half-written copy never passes for a good one. A name already
    taken by another file gets ``~001``; a copy already there with the same content (an upload
    retried after a crash) is not made twice. ``storage_options`` go to fsspec.
    """

    name = "outbox"

    def __init__(self, *, url: str, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"OutboxUploader: option 'url' must be a path or URL, got {url!r}")
        self.url = url
        self.storage_options = dict(storage_options or {})

    def on_close(self, filename: str) -> None:
        """Upload ``filename`` and check the copy; the local name is unchanged (returns None)."""
        with open(filename, "rb") as local:  # a missing file fails here, before any upload
            want = _fingerprint(local)
        fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        fs.makedirs(root, exist_ok=True)
        stem, ext = os.path.splitext(os.path.basename(filename))
        for n in range(1000):
            target = f"{root.rstrip('/')}/{stem}{f'~{n:03d}' if n else ''}{ext}"
            if fs.exists(target):
                with fs.open(target, "rb") as there:
                    if _fingerprint(there) == want:
                        return None  # uploaded before, e.g. by a run that crashed after it
                continue
            partial = f"{target}.partial"
            fs.put_file(filename, partial)
            with fs.open(partial, "rb") as copy:
                got = _fingerprint(copy)
            if got != want:
                fs.rm(partial)
                raise ArchiveError(f"the copy at {partial} does not match (size, CRC-32C "
                                   f"{got} instead of {want})", path=filename)
            fs.mv(partial, target)
            return None
        raise ArchiveError(f"no free name for {stem}{ext} in {self.url}", path=filename)

    def __repr__(self) -> str:
        return f"OutboxUploader(url={self.url!r})"
