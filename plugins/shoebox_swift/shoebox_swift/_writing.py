"""Storing, copying and deleting objects: whole or segmented uploads, server-side copies, and
deletes that take a large object's segments with it."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from fsspec.callbacks import DEFAULT_CALLBACK

from ._file import Upload

if TYPE_CHECKING:
    from .filesystem import SwiftFileSystem

__all__ = ["WritingMixin"]


class WritingMixin:
    """The writing part of :class:`~shoebox_swift.SwiftFileSystem`: :meth:`pipe_file` and
    :meth:`put_file` (one segment at a time, as a Static Large Object beyond one), :meth:`cp_file`
    and the deletes (:meth:`rm_file`, :meth:`rm`)."""

    if TYPE_CHECKING:
        segment_size: int
        _local: threading.local

        def call(self, path: str, method: str, *args: Any, **kwargs: Any) -> Any: ...

        def split_path(self, path: str) -> tuple[str, str]: ...

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any: ...

        def makedirs(self, path: str, exist_ok: bool = False) -> None: ...

        def rmdir(self, path: str) -> None: ...

        def exists(self, path: str, **kwargs: Any) -> bool: ...

        def isdir(self, path: str) -> bool: ...

        def expand_path(self, path: Any, recursive: bool = False,
                        maxdepth: int | None = None) -> list[str]: ...

    @staticmethod
    def object_headers(
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Request headers for an upload: ``metadata`` as ``X-Object-Meta-*``, a content type."""
        out = {f"X-Object-Meta-{k}": str(v) for k, v in (metadata or {}).items()}
        if content_type:
            out["Content-Type"] = content_type
        out.update(headers or {})
        return out

    # -- writing ---------------------------------------------------------------------------

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Store ``value`` as the object ``path`` (``mode="create"``: fail if it exists)."""
        container, name = self.split_path(path)
        upload = Upload(
            cast("SwiftFileSystem", self), container, name, headers=self.object_headers(**kwargs),
            exclusive=mode == "create",
        )
        self._upload(upload, [value])

    def put_file(
        self, lpath: str, rpath: str, callback: Any = DEFAULT_CALLBACK, mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        """Upload the local file ``lpath`` to ``rpath``, reading one segment at a time; creates
        the container if needed (see ``create_containers``). ``metadata=`` / ``content_type=``
        set object headers."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        container, name = self.split_path(rpath)
        if not name:
            raise IsADirectoryError(rpath)
        upload = Upload(
            cast("SwiftFileSystem", self), container, name, headers=self.object_headers(**kwargs),
            exclusive=mode == "create",
        )
        with open(lpath, "rb") as f:
            callback.set_size(os.fstat(f.fileno()).st_size)
            chunks = iter(lambda: f.read(self.segment_size), b"")
            self._upload(upload, chunks, callback)

    def _upload(self, upload: Upload, chunks: Iterable[bytes], callback: Any = None) -> str:
        """Store ``chunks`` through ``upload``: segments while more than one segment's worth
        is known, then the rest (the whole object if it is smaller than a segment)."""
        size = self.segment_size
        pending = bytearray()
        try:
            for chunk in chunks:
                pending += chunk
                if len(pending) >= size:
                    whole = len(pending) - len(pending) % size
                    with memoryview(pending) as view:
                        for start in range(0, whole, size):
                            upload.put_segment(bytes(view[start : start + size]))
                    del pending[:whole]
                if callback is not None:
                    callback.relative_update(len(chunk))
            return upload.finish(bytes(pending))
        except BaseException:
            upload.abort()
            raise

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy an object server-side (a large object's copy is one plain object, so at most
        Swift's maximum object size, 5 GiB by default); pseudo-directories need no copy."""
        container1, name1 = self.split_path(path1)
        container2, name2 = self.split_path(path2)
        try:
            self.call(path1, "copy_object", container1, name1,
                      destination=f"/{container2}/{name2}")
        except FileNotFoundError:
            if self.isdir(path1):
                return
            raise

    # -- deleting --------------------------------------------------------------------------

    def rm_file(self, path: str) -> None:
        """Delete an object; a large object goes with its segments."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not name:
            raise IsADirectoryError(path)
        headers = self.call(path, "head_object", container, name)
        self._delete(path, headers.get("x-static-large-object", "").lower() == "true")

    def _delete(self, path: str, slo: bool) -> None:
        container, name = self.split_path(path)
        if not slo:
            self.call(path, "delete_object", container, name)
            return
        # Swift answers a multipart delete with 200 and lists failures in a body swiftclient
        # drops: check that the manifest is gone instead.
        self.call(path, "delete_object", container, name,
                  query_string="multipart-manifest=delete")
        if self.exists(path):
            raise OSError(errno.EIO, "Swift did not delete this large object and its segments",
                          path)

    _rm = rm_file

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects; with ``recursive``, everything below ``path`` too, and a container
        named by ``path`` itself. Pseudo-directories vanish with their last object."""
        # What the listings behind expand_path() said of each path saves a HEAD per path.
        seen: dict[str, dict[str, Any]] = {}
        self._local.seen = seen
        try:
            paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        finally:
            self._local.seen = None
        for p in reversed(paths):
            container, name = self.split_path(p)
            entry = seen.get(p)
            if not name:
                if recursive:
                    self.rmdir(container)
            elif entry is None:
                try:
                    self.rm_file(p)
                except FileNotFoundError:
                    self._delete_marker(p)  # a pseudo-directory (only a marker can be stored)
            elif entry["type"] == "file":
                self._delete(p, bool(entry.get("slo")))
            elif entry.get("marker"):
                self._delete_marker(p)

    def _delete_marker(self, path: str) -> None:
        container, name = self.split_path(path)
        try:
            self.call(path, "delete_object", container, f"{name}/")
        except FileNotFoundError:
            pass
