"""Listings and details: paged container listings, pseudo-directories, HEAD-based info."""

from __future__ import annotations

import datetime
import email.utils
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractFileSystem

__all__ = ["ListingMixin"]


def _mtime_from_listing(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc).timestamp()


class ListingMixin:
    """The listing part of :class:`~shoebox_swift.SwiftFileSystem`.

    Listings page through containers of any length (``marker``, ``page_size`` entries a request)
    and roll names up into pseudo-directories with the ``/`` delimiter. While :meth:`rm` expands
    its paths, every entry seen is noted (``_local.seen``) so that deleting needs no HEAD.
    """

    if TYPE_CHECKING:
        page_size: int
        _local: threading.local
        _containers: set[str]

        def call(self, path: str, method: str, *args: Any, **kwargs: Any) -> Any: ...

        def split_path(self, path: str) -> tuple[str, str]: ...

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any: ...

    def _pages(self, container: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Every entry of a container listing, one page of ``page_size`` at a time."""
        marker = ""
        while True:
            _, page = self.call(
                container, "get_container", container, marker=marker or None,
                limit=self.page_size, **query,
            )
            if not page:
                return
            yield from page
            last = page[-1]
            marker = last.get("name") or last["subdir"]

    def _account(self) -> Iterator[dict[str, Any]]:
        marker = ""
        while True:
            _, page = self.call("", "get_account", marker=marker or None, limit=self.page_size)
            if not page:
                return
            yield from page
            marker = page[-1]["name"]

    def _entry(self, container: str, item: dict[str, Any]) -> dict[str, Any]:
        """An fsspec entry for one listing item (noted for :meth:`rm` while it expands paths)."""
        if "subdir" in item:
            entry = {"name": f"{container}/{item['subdir'].rstrip('/')}", "size": 0,
                     "type": "directory"}
        elif item["name"].endswith("/"):
            # A directory marker object (as the swift tool and Horizon make for "folders").
            entry = {"name": f"{container}/{item['name'].rstrip('/')}", "size": 0,
                     "type": "directory", "marker": True}
        else:
            entry = {
                "name": f"{container}/{item['name']}",
                "size": int(item["bytes"]),
                "type": "file",
                "etag": (item.get("slo_etag") or item.get("hash") or "").strip('"'),
                "content_type": item.get("content_type"),
                "mtime": _mtime_from_listing(item.get("last_modified")),
                # Swift's SLO middleware marks manifests in listings with their slo_etag.
                "slo": "slo_etag" in item,
            }
        return self._note(entry)

    def _note(self, entry: dict[str, Any]) -> dict[str, Any]:
        seen = getattr(self._local, "seen", None)
        if seen is not None:
            seen[entry["name"]] = {**seen.get(entry["name"], {}), **entry}
        return entry

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """The containers (``path`` empty), or the objects and pseudo-directories one level
        below ``path``; a file's own entry when ``path`` is an object."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not container:
            entries = [
                {"name": c["name"], "size": 0, "type": "directory", "count": c.get("count"),
                 "bytes": c.get("bytes")}
                for c in self._account()
            ]
        else:
            prefix = f"{name}/" if name else ""
            entries = [
                entry
                for item in self._pages(container, prefix=prefix or None, delimiter="/")
                # the marker object of the directory being listed is not an entry of it
                if (entry := self._entry(container, item))["name"] != path
            ]
            if not entries and name:
                entries = [self.info(path)]  # an object, or FileNotFoundError
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Details of an object (from a HEAD), a container or a pseudo-directory."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not container:
            return {"name": "", "size": 0, "type": "directory"}
        if not name:
            headers = self.call(path, "head_container", container)
            self._containers.add(container)
            return {
                "name": container, "size": 0, "type": "directory",
                "count": int(headers.get("x-container-object-count", 0)),
                "bytes": int(headers.get("x-container-bytes-used", 0)),
            }
        try:
            return self.head(path)
        except FileNotFoundError:
            _, below = self.call(path, "get_container", container, prefix=f"{name}/", limit=1)
            if below:
                return {"name": path, "size": 0, "type": "directory"}
            raise

    def head(self, path: str) -> dict[str, Any]:
        """The details of the object ``path`` from one HEAD request (never a directory):
        ``size``, ``etag``, ``slo``, ``mtime``, ``content_type`` and ``metadata`` (the
        ``X-Object-Meta-*`` headers, lower-case, without the prefix). FileNotFoundError if
        there is no such object."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not name:
            raise IsADirectoryError(path)
        headers = self.call(path, "head_object", container, name)
        timestamp = headers.get("x-timestamp")
        if timestamp is None and headers.get("last-modified"):
            timestamp = str(email.utils.parsedate_to_datetime(headers["last-modified"]).timestamp())
        return {
            "name": path,
            "size": int(headers.get("content-length", 0)),
            "type": "file",
            "etag": headers.get("etag", "").strip('"'),
            "content_type": headers.get("content-type"),
            "mtime": float(timestamp) if timestamp else None,
            "slo": headers.get("x-static-large-object", "").lower() == "true",
            "metadata": {
                k.lower()[len("x-object-meta-"):]: v
                for k, v in headers.items()
                if k.lower().startswith("x-object-meta-")
            },
        }

    def isdir(self, path: str) -> bool:
        """Whether ``path`` is a container or has objects below it (one request)."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not name:
            return self.exists(path)
        try:
            _, below = self.call(path, "get_container", container, prefix=f"{name}/", limit=1)
        except FileNotFoundError:
            return False
        return bool(below)

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether ``path`` exists. Unlike fsspec's default, a failure to ask (server down,
        refused credentials) raises instead of answering False."""
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False,
        detail: bool = False, **kwargs: Any,
    ) -> Any:
        """Every object (and with ``withdirs`` pseudo-directory) below ``path``, at most
        ``maxdepth`` levels down, from one flat (paged) listing instead of one per level."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        if not container:
            return AbstractFileSystem.find(self, path, maxdepth=maxdepth, withdirs=withdirs,
                                           detail=detail, **kwargs)
        deepest = maxdepth or float("inf")
        prefix = f"{name}/" if name else ""
        # One level: let Swift roll deeper names up into pseudo-directories.
        delimiter = "/" if maxdepth == 1 else None
        out: dict[str, dict[str, Any]] = {}
        try:
            for item in self._pages(container, prefix=prefix or None, delimiter=delimiter):
                entry = self._entry(container, item)
                relative = (item.get("name") or item["subdir"])[len(prefix):]
                if withdirs:
                    parts = relative.split("/")[:-1]
                    for depth in range(1, int(min(len(parts), deepest)) + 1):
                        directory = f"{container}/{prefix}{'/'.join(parts[:depth])}"
                        if directory not in out:
                            out[directory] = self._note(
                                {"name": directory, "size": 0, "type": "directory"}
                            )
                depth = len(relative.rstrip("/").split("/"))
                if relative and depth <= deepest and (withdirs or entry["type"] == "file"):
                    out[entry["name"]] = entry
        except FileNotFoundError:
            return {} if detail else []  # no such container: nothing below path, as fsspec's find
        if withdirs and (out or not name):
            out[path] = self._note({"name": path, "size": 0, "type": "directory"})
        if not out and name:
            try:
                found = self.info(path)
            except FileNotFoundError:
                found = None
            if found is not None and found["type"] == "file":
                out[path] = found
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names
