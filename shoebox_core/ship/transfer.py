"""Shipping sealed archives to remote storage: the base transfer, over any fsspec file system.

A transfer is an on-close callback. ``on_close(filename)`` uploads the file under a
deterministic object name (:mod:`shoebox_core.ship.object_names`), verifies the remote copy (size,
then the store's ETag when it is an MD5 or an S3 multipart ETag, else by reading the object back
and comparing MD5s), and deletes the local file only then, and only with ``remove_local=True``. It
returns None (the local name is unchanged, or gone).

Nothing is uploaded twice and nothing remote is overwritten:

* before uploading, the name is looked up: an object that is already there and verifies equal to
  the local file is taken as shipped (a retry after a crash that struck after the upload);
* an object there with other content belongs to another archive and is never overwritten: the next
  collision name (``x~001.events``) is tried, as for local files;
* inside a journaled chain (:mod:`shoebox_core.ship.chain`), the name is noted before uploading, so
  a retry after an interrupted upload overwrites that same object (its own partial copy); the note
  is a reservation only while the object there is absent, partial or ours (:meth:`partial_copy`):
  an object another writer put there meanwhile is kept and the next free name is used.

Subclasses adapt it to a store (``shoebox-s3``, ``shoebox-swift``) by overriding the hooks marked
"override" below; everything else (names, checks, journal notes, counters, removal) is shared. A
subclass declares only its own options and hands the base's on (see
:func:`shoebox_core.plugin.with_base_options`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from .._fsutil import collision_name, fsync_dir
from ..errors import ConfigError, RemoteError, TransferError, VerificationError
from ..format.digests import CHUNK, LocalDigest, digest_file
from ..options import boolean
from ..remote import open_remote, remote_errors
from ..ship.breaker import held_outage
from ..ship.callbacks import ArchiveCallback
from ..ship.journal import current_step
from ..ship.object_names import ObjectNamer, archive_facts
from ..ship.shipped import RemoteInfo, Shipped, TransferStats

__all__ = [
    "LocalDigest",
    "RemoteInfo",
    "Shipped",
    "Transfer",
    "TransferError",
    "TransferStats",
    "VerificationError",
    "archive_facts",
    "digest_file",
]

log = logging.getLogger("shoebox")

MAX_COLLISIONS = 1000
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART = re.compile(r"^([0-9a-f]{32})-(\d+)$")
_SECRET_WORDS = ("secret", "token", "password", "key", "credential", "auth", "session")


def _masked(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):
            out[key] = _masked(value)
        elif any(word in key.lower() for word in _SECRET_WORDS) and value is not None:
            out[key] = "***"
        else:
            out[key] = value
    return out


class Transfer(ArchiveCallback):
    """Upload sealed archives to ``url`` (any fsspec URL or a local directory), verified.

    Options (keyword-only, strings accepted as a config file gives them):

    * ``url``: where objects go, e.g. ``memory://bucket/prefix``, ``/mnt/archive``.
    * ``template``: the object name under ``url`` (default ``"{name}"``), e.g.
      ``"{event_type}/%Y/%m/%d/{name}"``; see :mod:`shoebox_core.ship.object_names`.
    * ``fields``: values for template fields; other fields come from the first record.
    * ``missing``: the value of a metadata field the first record lacks (default: an error).
    * ``remove_local``: delete the local file once its remote copy is verified (default False).
    * ``verify``: ``"auto"`` (the store's checksum when it proves the content, else read back)
      or ``"read"`` (always read the object back).
    * ``storage_options``: keyword arguments of the fsspec file system.

    Subclass interface (override as needed): ``make_filesystem()``, ``upload(local, remote,
    digest)``, ``remote_info(remote)``, ``etag_matches(info, digest)``, ``part_size(size)``; and
    the class attributes ``name`` (the strategy name) and ``transient_failures`` (True: the
    writer retries a failed upload by default).
    """

    name = "fsspec"
    #: A failed upload is usually transient (network, store busy): writers retry it by default.
    transient_failures = True
    #: Override: the URL schemes a store takes (``("s3", "s3a")``); empty: any URL or directory.
    schemes: tuple[str, ...] = ()
    #: Override: what the first segment of such a URL names (it must be there).
    root_kind = "bucket"

    def __init__(
        self,
        *,
        url: str,
        template: str = "{name}",
        fields: Mapping[str, object] | None = None,
        missing: str | None = None,
        remove_local: object = False,
        verify: str = "auto",
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(url, os.PathLike):
            url = os.fspath(url)
        prefixes = tuple(f"{scheme}://" for scheme in self.schemes)
        if prefixes and not (isinstance(url, str) and url.startswith(prefixes)):
            raise ConfigError(f"{owner}: option 'url' must be {prefixes[0]}{self.root_kind}"
                              f"[/prefix], got {url!r}")
        if prefixes and not url.split("://", 1)[1].split("/", 1)[0]:
            raise ConfigError(f"{owner}: option 'url' names no {self.root_kind}: {url!r}")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{owner}: option 'url' must be a URL or directory, got {url!r}")
        stripped = url.rstrip("/")
        self.url = stripped if stripped and not stripped.endswith(":") else url
        self.namer = ObjectNamer(template, fields=fields, missing=missing)
        self.template = template
        self.remove_local = boolean(remove_local, "remove_local", owner=owner)
        if verify not in ("auto", "read"):
            raise ConfigError(f"{owner}: option 'verify' must be 'auto' or 'read', got {verify!r}")
        self.verify = verify
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise ConfigError(f"{owner}: option 'storage_options' must be a table/dict")
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.stats = TransferStats()
        self._fs: Any = None
        self._root = ""
        self._fs_lock = threading.Lock()

    @staticmethod
    def store_options(storage_options: Mapping[str, Any] | None, **given: Any) -> dict[str, Any]:
        """``storage_options`` (copied) with each of ``given`` that was set (not None, not an
        empty table; tables copied): how a store's transfer hands the connection options it
        declares on to its file system."""
        options = dict(storage_options or {})
        for name, value in given.items():
            if isinstance(value, Mapping):
                value = dict(value) or None
            if value is not None:
                options[name] = value
        return options

    @property
    def local_effect(self) -> str | None:
        """``"removes"`` with ``remove_local`` (no later step may run on the file), else None."""
        return "removes" if self.remove_local else None

    # -- the file system ------------------------------------------------------------------------
    def make_filesystem(self) -> tuple[Any, str]:
        """Override: return ``(filesystem, root_path)`` for ``self.url``. Called once, lazily."""
        return open_remote(self.url, self.storage_options)

    @property
    def fs(self) -> Any:
        """The fsspec file system (built on first use)."""
        with self._fs_lock:
            if self._fs is None:
                self._fs, root = self.make_filesystem()
                self._root = str(root).rstrip("/")
            return self._fs

    @property
    def root(self) -> str:
        """The file-system path objects go under (``bucket/prefix``)."""
        self.fs  # noqa: B018 (builds it)
        return self._root

    # -- names ----------------------------------------------------------------------------------
    def object_name(self, filename: str) -> str:
        """The object name of ``filename`` under the prefix (the template, rendered)."""
        facts = archive_facts(filename, metadata=bool(self.namer.metadata_fields))
        return self.namer.render(facts)

    def remote_path(self, key: str) -> str:
        """The file-system path of object ``key``."""
        return f"{self.root}/{key}" if self.root else key

    def url_of(self, path: str) -> str:
        """The full URL (with protocol) of the file-system path ``path``."""
        unstrip = getattr(self.fs, "unstrip_protocol", None)
        return str(unstrip(path)) if unstrip is not None else path

    # -- store hooks (override) -----------------------------------------------------------------
    @staticmethod
    def object_metadata(digest: LocalDigest) -> dict[str, str]:
        """The user metadata an upload stores with the object (``shoebox-md5``, ``-crc32c``,
        ``-size``); a later look finds a differing object by its ``shoebox-md5`` at once."""
        return {
            "shoebox-md5": digest.md5,
            "shoebox-crc32c": f"{digest.crc32c:08x}",
            "shoebox-size": str(digest.size),
        }

    def part_size(self, size: int) -> int | None:
        """Override: the multipart part size an upload of ``size`` bytes uses (None: one part)."""
        return None

    def prepare_remote(self) -> None:
        """Override: make the bucket or container ready before an upload (create it, if the
        options say so); called before each upload, so it should remember it is done."""

    def upload(self, local: str, remote: str, digest: LocalDigest) -> None:
        """Override: copy the local file to ``remote`` (a file-system path), in place."""
        parent = self.fs._parent(remote)
        if parent:
            with contextlib.suppress(OSError, NotImplementedError):
                self.fs.makedirs(parent, exist_ok=True)
        self.fs.put_file(local, remote)

    def remote_info(self, remote: str) -> RemoteInfo | None:
        """Override: what the store says about ``remote`` now (not from a cache); None if absent."""
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(remote)
        try:
            info = self.fs.info(remote)
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            raise TransferError(f"{remote} is a directory on the remote", path=remote)
        etag = info.get("ETag") or info.get("etag") or info.get("md5") or info.get("hash")
        etag = str(etag).strip('"').lower() if etag else None
        size = info.get("size")
        return RemoteInfo(int(size) if size is not None else None, etag, None)

    def etag_matches(self, info: RemoteInfo, digest: LocalDigest) -> bool | None:
        """Override: True if the store's checksum proves the content equals ``digest``, False if
        it proves it differs, None if it cannot tell (then the object is read back)."""
        if not info.etag:
            return None
        if _MD5.match(info.etag):
            return True if info.etag == digest.md5 else None
        multipart = _MULTIPART.match(info.etag)
        if multipart and digest.part_md5s:
            expected = digest.multipart_etag()
            return True if info.etag == expected else None
        return None

    def read_back(self, remote: str) -> tuple[int, str]:
        """Read ``remote`` back; return its size and MD5."""
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with self.fs.open(remote, "rb") as f:
            while chunk := f.read(CHUNK * 4):
                md5.update(chunk)
                size += len(chunk)
        return size, md5.hexdigest()

    # -- checking -------------------------------------------------------------------------------
    def same_content(self, remote: str, info: RemoteInfo, digest: LocalDigest) -> str | None:
        """How ``remote`` was proved equal to the local file (``"etag"`` / ``"read-back"``), or
        None if it differs."""
        if info.size is not None and info.size != digest.size:
            return None
        stored = (info.metadata or {}).get("shoebox-md5")
        if stored is not None and stored != digest.md5:
            return None
        if self.verify == "auto" and info.size is not None:
            if self.etag_matches(info, digest):
                return "etag"
        size, md5 = self.read_back(remote)
        self.stats.add(read_back=1)
        return "read-back" if (size, md5) == (digest.size, digest.md5) else None

    def partial_copy(self, remote: str, info: RemoteInfo, digest: LocalDigest,
                     local: str) -> bool:
        """True if ``remote`` (which differs from the local file) is our own interrupted upload:
        it carries our file's checksum as metadata, or it is a strict prefix of the local file. A
        noted name is ours only then; anything else there was put by another writer."""
        if (info.metadata or {}).get("shoebox-md5") == digest.md5:
            return True
        if info.size is None or info.size >= digest.size:
            return False
        md5 = hashlib.md5(usedforsecurity=False)
        left = info.size
        with self.fs.open(remote, "rb") as f:
            while left and (chunk := f.read(min(CHUNK * 4, left))):
                md5.update(chunk)
                left -= len(chunk)
        mine = hashlib.md5(usedforsecurity=False)
        left = info.size
        with open(local, "rb") as f:
            while left and (chunk := f.read(min(CHUNK * 4, left))):
                mine.update(chunk)
                left -= len(chunk)
        return md5.digest() == mine.digest()

    # -- shipping -------------------------------------------------------------------------------
    def ship(self, filename: str) -> Shipped:
        """Upload ``filename`` unless an equal copy is already there, verify it, and return where
        it is. Never overwrites another archive's object. Raises :class:`TransferError`, or
        :class:`~shoebox_core.errors.RemoteError` when the store cannot be reached or used."""
        local = os.fspath(filename)
        size = os.path.getsize(local)
        digest = digest_file(local, self.part_size(size))
        key = self.object_name(local)
        held = held_outage()
        if held is not None:  # the remote is down: the shipping worker's next probe is not due
            raise RemoteError(self.url, f"{held.cause}; not tried, waiting for the next probe")
        with remote_errors(self.url):
            return self._ship(local, key, digest)

    def _ship(self, local: str, key: str, digest: LocalDigest) -> Shipped:
        step = current_step()
        note = step.note if step is not None else {}
        ours = note.get("path") if note.get("phase") in ("uploading", "verified") else None
        target = None
        for n in range(MAX_COLLISIONS):
            candidate = self.remote_path(collision_name(key, n))
            info = self.remote_info(candidate)
            if info is None:
                target = candidate
                break
            how = self.same_content(candidate, info, digest)
            if how is not None:
                shipped = Shipped(self.url_of(candidate), candidate, digest.size, digest.md5,
                                  False, how)
                self.stats.add(already_present=1)
                self._note(shipped)
                return shipped
            if candidate == ours and self.partial_copy(candidate, info, digest, local):
                target = candidate  # our own interrupted upload: overwrite it
                break
            self.stats.add(collisions=1)
            log.warning("shoebox: %s already holds other content; not overwriting it (%s)",
                        self.url_of(candidate), local)
        if target is None:
            raise TransferError(f"no free object name for {key} after {MAX_COLLISIONS} tries",
                                path=local)
        if step is not None:
            step.record(path=target, url=self.url_of(target), phase="uploading",
                        size=digest.size, md5=digest.md5)
        self.upload(local, target, digest)
        info = self.remote_info(target)
        if info is None:
            raise VerificationError(f"{self.url_of(target)} is missing after its upload",
                                    path=local)
        how = self.same_content(target, info, digest)
        if how is None:
            raise VerificationError(
                f"{self.url_of(target)} does not match the local file after its upload "
                f"(remote size {info.size}, etag {info.etag}; local {digest.size} bytes, md5 "
                f"{digest.md5}); the local file is kept",
                path=local,
            )
        shipped = Shipped(self.url_of(target), target, digest.size, digest.md5, True, how)
        self.stats.add(files=1, bytes=digest.size)
        self._note(shipped)
        return shipped

    def _note(self, shipped: Shipped) -> None:
        step = current_step()
        if step is not None:
            # "completed": if the local file is gone when the chain resumes, this step is done.
            step.record(path=shipped.path, url=shipped.url, phase="verified", completed=True,
                        size=shipped.size, md5=shipped.md5)
        log.info("shoebox: shipped %s (%d bytes, %s, verified by %s)", shipped.url,
                 shipped.size, "uploaded" if shipped.uploaded else "already there",
                 shipped.verified_by)

    def on_close(self, filename: str) -> None:
        """Ship ``filename`` (see :meth:`ship`); then, with ``remove_local``, delete it."""
        local = os.fspath(filename)
        self.ship(local)
        if self.remove_local:
            os.unlink(local)
            fsync_dir(os.path.dirname(local))
            self.stats.add(removed=1)
        return None

    def __repr__(self) -> str:
        options = _masked(self.storage_options)
        return (
            f"{type(self).__name__}(url={self.url!r}, template={self.template!r}, "
            f"remove_local={self.remove_local!r}, storage_options={options!r})"
        )

