"""Objects as files: ranged reads, and uploads that appear whole or not at all.

Writing into a missing container creates it (unless the filesystem's ``create_containers`` is
off), on the first 404: no request is spent on containers that exist, and a user allowed to
write objects but not to create containers is not refused.

An upload smaller than the segment size is one PUT carrying the MD5 of its bytes as ``ETag``:
Swift refuses it (422) if what arrived differs, and an interrupted PUT never becomes visible. A
larger upload is a Static Large Object: the data goes first, segment by segment (each checked by
its MD5), into ``<container>_segments``; the manifest goes last, so the object appears under its
final name only once every segment is stored. A failed upload deletes the segments it stored.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import uuid
import warnings
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

from ._large_objects import slo_etag

if TYPE_CHECKING:
    from .filesystem import SwiftFileSystem

__all__ = ["SwiftFile", "Upload"]

log = logging.getLogger("shoebox")


def _md5(data: bytes | memoryview) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Upload:
    """One object being written to ``container/name``: whole, or segment by segment.

    ``exclusive`` makes the final PUT conditional (``If-None-Match: *``): it fails with
    FileExistsError instead of replacing an object that appeared meanwhile. ``headers`` go on the
    final PUT (``X-Object-Meta-*``, ``Content-Type``...).
    """

    def __init__(
        self,
        fs: SwiftFileSystem,
        container: str,
        name: str,
        *,
        headers: dict[str, str] | None = None,
        exclusive: bool = False,
    ) -> None:
        self.fs = fs
        self.container = container
        self.name = name
        self.path = f"{container}/{name}"
        self.headers = dict(headers or {})
        if exclusive:
            self.headers["If-None-Match"] = "*"
        self.exclusive = exclusive
        self.segments: list[dict[str, Any]] = []
        self.segment_container = fs.segment_container_for(container)
        stamp = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        self.segment_prefix = f"{name}/slo/{stamp}/"
        self.done = False
        self.manifest_sent = False

    def put_segment(self, data: bytes) -> None:
        """Store the next segment (checked by its MD5)."""
        if not data:
            return
        etag = _md5(data)
        name = f"{self.segment_prefix}{len(self.segments):08d}"
        self._put(self.segment_container, name, data, etag=etag)
        self.segments.append(
            {"path": f"/{self.segment_container}/{name}", "etag": etag, "size_bytes": len(data)}
        )

    def finish(self, tail: bytes = b"") -> str:
        """Make the object visible: one PUT of ``tail`` if no segment was stored, else store
        ``tail`` as the last segment and PUT the manifest. Returns the object's ETag."""
        replaced = None if self.exclusive else self.fs.slo_segment_paths(self.path)
        if not self.segments:
            etag = self._put(self.container, self.name, tail, etag=_md5(tail),
                             headers=self.headers)
        else:
            self.put_segment(tail)
            manifest = json.dumps(self.segments).encode()
            self.manifest_sent = True
            self._put(self.container, self.name, manifest, headers=self.headers,
                      query_string="multipart-manifest=put")
            etag = slo_etag([s["etag"] for s in self.segments])
        self.done = True
        if replaced:
            # The object we replaced was a large object: its segments are garbage now.
            kept = {s["path"] for s in self.segments}
            self.fs.delete_segments([p for p in replaced if p not in kept])
        return str(etag)

    def _put(self, container: str, name: str, data: bytes, **kwargs: Any) -> Any:
        path = f"{container}/{name}"
        try:
            return self.fs.call(path, "put_object", container, name, data,
                                content_length=len(data), **kwargs)
        except FileNotFoundError:
            if not self.fs.create_containers:
                raise FileNotFoundError(
                    f"Swift container {container!r} does not exist (create it, or let the "
                    "filesystem do so with create_containers=True)"
                ) from None
        self.fs.call(container, "put_container", container)
        return self.fs.call(path, "put_object", container, name, data,
                            content_length=len(data), **kwargs)

    def abort(self) -> None:
        """Delete the segments stored so far (best effort; nothing was made visible).

        If the manifest was sent but its answer lost (a timeout), Swift may have stored it: the
        segments are then deleted only once the object is seen not to use them, so a stored
        manifest never loses its segments.
        """
        if self.done:
            return
        self.done = True
        ours = [s["path"] for s in self.segments]
        if self.manifest_sent:
            try:
                in_use = self.fs.slo_segment_paths(self.path, always=True) or []
            except Exception as exc:  # cannot tell: keep them (orphans cost space, nothing else)
                log.warning("shoebox-swift: kept %d segments of %s: %s", len(ours), self.path, exc)
                return
            if set(ours) & set(in_use):
                log.warning("shoebox-swift: the manifest of %s was stored after all", self.path)
                return
        self.fs.delete_segments(ours)
        self.segments = []


class SwiftFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec is untyped
    """A Swift object opened through :meth:`SwiftFileSystem.open`.

    Read mode (``rb``) fetches the bytes it needs with ``Range`` requests through fsspec's
    read-ahead cache. Write modes (``wb``, and ``xb`` which fails if the object exists) buffer one
    segment (``block_size``, by default the filesystem's ``segment_size``) in memory; see the
    module docstring for how the object becomes visible. Leaving a ``with`` block by an exception,
    :meth:`discard`, or dropping an unclosed file, abandons the upload: no partial object appears.
    Appending (``ab``) is not possible on Swift.
    """

    buffer: io.BytesIO  # set by fsspec in write modes
    _closed: bool  # behind fsspec's ``closed`` property

    def __init__(
        self,
        fs: SwiftFileSystem,
        path: str,
        mode: str = "rb",
        block_size: int | str | None = None,
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        size: int | None = None,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if mode == "ab":
            raise NotImplementedError("Swift objects cannot be appended to; write a new object")
        if block_size in (None, "default"):
            block_size = fs.segment_size if mode != "rb" else fs.read_block_size
        container, name = fs.split_path(path)
        if mode != "rb":
            if not name:
                raise IsADirectoryError(f"{path!r} names a container, not an object")
            if mode == "xb" and fs.exists(path):
                raise FileExistsError(path)
            self.upload = Upload(
                fs, container, name, headers=fs.object_headers(metadata, content_type, headers),
                exclusive=mode == "xb",
            )
        super().__init__(
            fs, path, mode, block_size, autocommit, cache_type=cache_type,
            cache_options=cache_options, size=size, **kwargs,
        )
        self._tail: bytes | None = None

    def _fetch_range(self, start: int, end: int) -> bytes:
        return bytes(self.fs.cat_file(self.path, start=start, end=end))

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getbuffer()
        try:
            # Whole segments only: every segment but the last is exactly block_size long, so
            # the ETag of the object can be predicted from the local file.
            full = len(data) - len(data) % self.blocksize
            for start in range(0, full, self.blocksize):
                self.upload.put_segment(bytes(data[start : start + self.blocksize]))
            tail = bytes(data[full:])
        finally:
            del data  # release the export so the buffer can be replaced
        if final:
            self._tail = tail
            if self.autocommit:
                self.commit()
            return True
        # Keep the bytes short of a full segment for the next flush.
        self.offset += full
        self.buffer = io.BytesIO()
        self.buffer.write(tail)
        return False

    def commit(self) -> None:
        """Make the object visible (called on close, or by a transaction's end)."""
        if self._tail is None:
            raise ValueError(f"{self.path}: nothing to commit (the file is not closed)")
        tail, self._tail = self._tail, None
        try:
            self.upload.finish(tail)
        except BaseException:
            self.upload.abort()
            raise

    def discard(self) -> None:
        """Abandon the upload: delete stored segments; the object is not created or replaced."""
        if self.mode != "rb":
            self.upload.abort()
            self._tail = None

    def close(self) -> None:
        """Finish the upload (write modes) and close."""
        if self.mode == "rb" or self.closed:
            super().close()
            return
        try:
            super().close()
        except BaseException:
            self.upload.abort()
            raise

    def __exit__(self, exc_type: object, *args: object) -> None:
        if exc_type is not None and self.mode != "rb" and not self._closed:
            self.discard()
            self._closed = True
            return
        self.close()

    def __del__(self) -> None:
        # fsspec's files commit whatever was written when garbage-collected unclosed; an archive
        # shipper must not publish a cut-short object, so an unclosed upload is abandoned.
        if getattr(self, "mode", "rb") != "rb" and not getattr(self, "_closed", True):
            warnings.warn(
                f"unclosed Swift upload {self.path} abandoned (close() it to store it)",
                ResourceWarning,
                stacklevel=2,
            )
            try:
                self.discard()
            finally:
                self._closed = True
            return
        super().__del__()
