"""Static Large Objects and checksums: manifests, segments, ETags computed from local files."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

__all__ = ["LargeObjectMixin", "file_etag", "slo_etag"]

log = logging.getLogger("shoebox")

_CHUNK = 4 * 1024 * 1024


def slo_etag(segment_etags: list[str]) -> str:
    """The ETag Swift reports for a Static Large Object: the MD5 of its segments' ETags."""
    joined = "".join(segment_etags).encode("ascii")
    return hashlib.md5(joined, usedforsecurity=False).hexdigest()


def file_etag(path: str | os.PathLike[str], segment_sizes: Iterable[int] | None = None) -> str:
    """The ETag Swift reports for a copy of the local file ``path``: its MD5, or, stored as a
    Static Large Object cut into ``segment_sizes``, the MD5 of the segments' MD5s."""
    with open(path, "rb") as f:
        if segment_sizes is None:
            whole = hashlib.md5(usedforsecurity=False)
            while chunk := f.read(_CHUNK):
                whole.update(chunk)
            return whole.hexdigest()
        etags = []
        for size in segment_sizes:
            digest = hashlib.md5(usedforsecurity=False)
            left = size
            while left:
                chunk = f.read(min(left, _CHUNK))
                if not chunk:
                    raise ValueError(f"{path} is shorter than the segments of its remote copy")
                digest.update(chunk)
                left -= len(chunk)
            etags.append(digest.hexdigest())
        if f.read(1):
            raise ValueError(f"{path} is longer than the segments of its remote copy")
        return slo_etag(etags)


class LargeObjectMixin:
    """The large-object and checksum part of :class:`~shoebox_swift.SwiftFileSystem`."""

    if TYPE_CHECKING:
        leave_segments: bool

        def call(self, path: str, method: str, *args: Any, **kwargs: Any) -> Any: ...

        def split_path(self, path: str) -> tuple[str, str]: ...

        def info(self, path: str, **kwargs: Any) -> dict[str, Any]: ...

        def exists(self, path: str, **kwargs: Any) -> bool: ...

        @property
        def connection(self) -> Any: ...

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any: ...

    def manifest(self, path: str) -> list[dict[str, Any]] | None:
        """The segments (``name``, ``bytes``, ``hash``) of a Static Large Object, or None for a
        plain object. FileNotFoundError if there is no object."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        headers = self.call(path, "head_object", container, name)
        if headers.get("x-static-large-object", "").lower() != "true":
            return None
        _, body = self.call(path, "get_object", container, name,
                            query_string="multipart-manifest=get")
        return list(json.loads(body))

    def slo_segment_paths(self, path: str, always: bool = False) -> list[str] | None:
        """``/container/name`` of each segment of the large object at ``path`` (None if the
        object is plain or missing, or, unless ``always``, ``leave_segments`` is set)."""
        if self.leave_segments and not always:
            return None
        try:
            segments = self.manifest(path)
        except FileNotFoundError:
            return None
        return None if segments is None else [s["name"] for s in segments]

    def delete_segments(self, paths: Iterable[str]) -> None:
        """Delete segments (``/container/name``), logging instead of raising on failure."""
        for segment in paths:
            container, _, name = segment.lstrip("/").partition("/")
            try:
                self.connection.delete_object(container, name)
            except Exception as exc:  # best effort: a leftover segment only costs space
                if getattr(exc, "http_status", None) != 404:
                    log.warning("shoebox-swift: could not delete segment %s: %s", segment, exc)

    def etag(self, path: str) -> str:
        """The object's ETag: its MD5, or for a large object the MD5 of its segments' MD5s."""
        return str(self.info(path)["etag"])

    def checksum(self, path: str) -> int:
        """The ETag as an int (changes whenever the content does)."""
        return int(self.etag(path), 16)

    def ukey(self, path: str) -> str:
        """The ETag (fsspec's key for "has this file changed")."""
        return self.etag(path)

    def modified(self, path: str) -> datetime.datetime:
        """When the object was last written (UTC)."""
        mtime = self.info(path).get("mtime")
        if mtime is None:
            raise NotImplementedError(f"Swift gave no modification time for {path}")
        return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc)

    def matches_local(self, lpath: str | os.PathLike[str], rpath: str) -> tuple[bool, str]:
        """Whether the object ``rpath`` holds exactly the bytes of the local file ``lpath``:
        same size, and the ETag the local bytes would give (cut like the remote segments).
        Returns ``(ok, explanation)``."""
        info = self.info(rpath)
        size = os.path.getsize(lpath)
        if info["type"] != "file":
            return False, f"{rpath} is not an object"
        if info["size"] != size:
            return False, f"size {info['size']} on Swift, {size} locally"
        segments = self.manifest(rpath) if info.get("slo") else None
        try:
            expected = file_etag(lpath, None if segments is None else
                                 [int(s["bytes"]) for s in segments])
        except ValueError as exc:
            return False, str(exc)
        if expected != info["etag"]:
            return False, f"ETag {info['etag']} on Swift, {expected} expected from the local file"
        return True, f"{size} bytes, ETag {expected}"
