"""The ``swift`` transfer: sealed archives to ``swift://container/prefix/...``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from shoebox_core.errors import ConfigError
from shoebox_core.options import boolean, number
from shoebox_core.plugin import with_base_options
from shoebox_core.ship.transfer import LocalDigest, RemoteInfo, Transfer

__all__ = ["SwiftTransfer"]

MiB = 1024 * 1024


@with_base_options
class SwiftTransfer(Transfer):
    """Upload sealed archives to OpenStack Swift (verified, never overwriting another archive).

    Options (keyword-only; strings accepted as a config file gives them), besides those of
    :class:`~shoebox_core.ship.transfer.Transfer` (``template``, ``fields``, ``missing``,
    ``remove_local``, ``verify``):

    * ``url``: ``swift://container/prefix``.
    * ``auth_url``, ``user``, ``key``: v1 auth (``https://swift.example.com/auth/v1.0``), or
      Keystone with ``auth_version = "3"`` and ``os_options`` (``project_name``,
      ``user_domain_name``, ``project_domain_name``, ``region_name``...); or ``storage_url`` and
      ``token``; or none of them: the ``OS_*`` / ``ST_*`` environment variables.
    * ``cacert`` (a CA bundle for https), ``insecure`` (no certificate check).
    * ``segment_size_mb`` (64): files this large or larger are stored as Static Large Objects of
      segments this size (in ``<container>_segments``); smaller ones in one PUT.
    * ``create_container`` (True): create the container on the first upload if it is missing.
    * ``connect_timeout`` (5 s) and ``timeout`` (30 s, for an answer) of each Swift request;
      ``retries`` (0) of swiftclient itself: the writer's shipping worker retries (one policy).
    * ``storage_options``: any other :class:`~shoebox_swift.SwiftFileSystem` argument.

    Verification: the object's size, then its ETag: the MD5 of a plain object, or for a large
    object the MD5 of its segments' MD5s, computed from the local file cut the same way; when the
    ETag proves nothing (the object was cut differently) it is read back. The MD5, CRC32C and
    size are also stored as object metadata (``X-Object-Meta-Shoebox-Md5``...).
    """

    name = "swift"
    schemes = ("swift",)
    root_kind = "container"

    def __init__(
        self,
        *,
        auth_url: str | None = None,
        user: str | None = None,
        key: str | None = None,
        auth_version: str | None = None,
        os_options: Mapping[str, Any] | None = None,
        storage_url: str | None = None,
        token: str | None = None,
        cacert: str | None = None,
        insecure: object = False,
        segment_size_mb: object = 64,
        create_container: object = True,
        retries: object = 0,
        timeout: object = 30,
        connect_timeout: object = 5,
        storage_options: Mapping[str, Any] | None = None,
        **base: Any,
    ) -> None:
        owner = "SwiftTransfer"
        if os_options is not None and not isinstance(os_options, Mapping):
            raise ConfigError(f"{owner}: option 'os_options' must be a table/dict")
        segment = number(segment_size_mb, "segment_size_mb", owner=owner)
        options = self.store_options(
            storage_options, auth_url=auth_url, user=user, key=key,
            auth_version=None if auth_version is None else str(auth_version),
            os_options=os_options, storage_url=storage_url, token=token, cacert=cacert,
        )
        if boolean(insecure, "insecure", owner=owner):
            options["verify"] = False
        options["segment_size"] = max(1, int(segment * MiB))
        options["create_containers"] = boolean(create_container, "create_container", owner=owner)
        options["retries"] = int(number(retries, "retries", owner=owner, positive=False,
                                        integer=True))
        options["timeout"] = number(timeout, "timeout", owner=owner)
        options["connect_timeout"] = number(connect_timeout, "connect_timeout", owner=owner)
        super().__init__(storage_options=options, **base)
        self.container = self.url[len("swift://"):].split("/", 1)[0]
        self.segment_bytes = options["segment_size"]

    def make_filesystem(self) -> tuple[Any, str]:
        """A :class:`~shoebox_swift.SwiftFileSystem` with the configured options; the root is
        ``container/prefix``."""
        from .filesystem import SwiftFileSystem

        fs = SwiftFileSystem(**self.storage_options)
        return fs, self.url[len("swift://"):].rstrip("/")

    def part_size(self, size: int) -> int | None:
        """The segment size of a Static Large Object of ``size`` bytes; None for one PUT (as
        the filesystem decides: below one segment)."""
        return self.segment_bytes if size >= self.segment_bytes else None

    def upload(self, local: str, remote: str, digest: LocalDigest) -> None:
        """Upload (in segments when large), storing the checksums as object metadata."""
        self.fs.put_file(local, remote, metadata=self.object_metadata(digest),
                         content_type="application/octet-stream")

    def remote_info(self, remote: str) -> RemoteInfo | None:
        """One HEAD request: size, ETag and user metadata."""
        try:
            head = self.fs.head(remote)
        except FileNotFoundError:
            return None
        return RemoteInfo(head["size"], head["etag"].lower() or None, head["metadata"])

    def etag_matches(self, info: RemoteInfo, digest: LocalDigest) -> bool | None:
        """True when the ETag is the local MD5 (a plain object) or the MD5 of the local
        segments' MD5s (a large object cut at ``segment_size_mb``); None when it proves
        nothing."""
        if not info.etag:
            return None
        if info.etag == digest.md5:
            return True
        if digest.part_md5s:
            joined = "".join(part.hex() for part in digest.part_md5s)
            if info.etag == hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest():
                return True
        return None
