"""An fsspec filesystem for OpenStack Swift, built on python-swiftclient.

Paths are ``container/object/name``; URLs are ``swift://container/object/name``. Containers are
the top-level directories; below them, ``/`` in object names makes pseudo-directories (Swift has
no real ones, so an empty directory cannot exist and :meth:`SwiftFileSystem.mkdir` below a
container stores nothing).
"""

from __future__ import annotations

import threading
from typing import Any

import swiftclient
from fsspec.spec import AbstractFileSystem
from swiftclient.exceptions import ClientException

from ._auth import connection_options
from ._errors import os_error
from ._file import SwiftFile
from ._large_objects import LargeObjectMixin, file_etag
from ._listing import ListingMixin
from ._writing import WritingMixin

__all__ = ["SwiftFileSystem", "file_etag"]

_MiB = 1024 * 1024
_MAX_PAGE = 10_000  # Swift's default container_listing_limit; a larger limit is refused


def _to_int(value: object, option: str, minimum: int) -> int:
    number = int(value)  # type: ignore[call-overload]
    if number < minimum:
        raise ValueError(f"SwiftFileSystem: {option} must be at least {minimum}, got {value!r}")
    return number


_TRUE = ("1", "true", "yes", "on")
_FLAG_WORDS = (*_TRUE, "0", "false", "no", "off")


def _timeouts(connect: object, read: object) -> Any:
    """requests' timeout: ``(connect, read)`` seconds, one of them None for no bound."""
    if connect is None and read is None:
        return None
    return (None if connect is None else float(connect),  # type: ignore[arg-type]
            None if read is None else float(read))  # type: ignore[arg-type]


def _flag(value: object, option: str) -> bool:
    """A boolean option, also from the strings a command line or config file gives."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text not in _FLAG_WORDS:
            raise ValueError(f"SwiftFileSystem: {option} must be true or false, got {value!r}")
        return text in _TRUE
    return bool(value)


class SwiftFileSystem(ListingMixin, WritingMixin, LargeObjectMixin, AbstractFileSystem):  # type: ignore[misc]
    """OpenStack Swift as an fsspec filesystem (protocol ``swift``).

    Log in with ``auth_url``, ``user`` and ``key`` (v1 auth by default; ``auth_version="3"`` and
    ``os_options={"project_name": ..., "user_domain_name": ..., ...}`` for Keystone v3, which
    needs ``python-keystoneclient``), or give a ready ``storage_url`` and ``token``. Missing
    values come from the environment unless ``use_env=False`` (see :mod:`shoebox_swift._auth`).

    Other options:

    * ``verify``: True (default), False (no TLS verification) or a CA bundle path; ``cacert``,
      ``cert`` and ``cert_key`` as in swiftclient;
    * ``retries`` (0: a writer's shipping worker does the retrying), ``starting_backoff`` (1 s),
      ``max_backoff`` (16 s): swiftclient's retries of failed requests; ``connect_timeout``
      (5 s) to connect and ``timeout`` (30 s) for an answer, per request;
    * ``segment_size`` (64 MiB): objects this large or larger are stored as Static Large Objects
      in segments of this size (at most 1000 segments on a default Swift); also the write buffer;
    * ``segment_container`` (``"{container}_segments"``): where segments go;
    * ``leave_segments`` (False): keep the segments of a large object that an upload replaces;
    * ``create_containers`` (True): writing into a missing container creates it;
    * ``page_size`` (10000): objects per listing request (listings follow the marker to the end);
    * ``read_block_size`` (2 MiB): the read-ahead of files opened for reading.
    """

    protocol = ("swift",)
    root_marker = ""

    def __init__(
        self,
        auth_url: str | None = None,
        user: str | None = None,
        key: str | None = None,
        *,
        auth_version: str | int | None = None,
        os_options: dict[str, Any] | None = None,
        storage_url: str | None = None,
        token: str | None = None,
        verify: bool | str = True,
        cacert: str | None = None,
        cert: str | None = None,
        cert_key: str | None = None,
        retries: int = 0,
        starting_backoff: float = 1.0,
        max_backoff: float = 16.0,
        timeout: float | None = 30.0,
        connect_timeout: float | None = 5.0,
        segment_size: int = 64 * _MiB,
        segment_container: str = "{container}_segments",
        leave_segments: bool | str = False,
        create_containers: bool | str = True,
        page_size: int = _MAX_PAGE,
        read_block_size: int = 2 * _MiB,
        use_env: bool | str = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(verify, str) and verify.strip().lower() in _FLAG_WORDS:
            verify = _flag(verify, "verify")
        self._connection_options = connection_options(
            auth_url=auth_url, user=user, key=key, auth_version=auth_version,
            os_options=os_options, storage_url=storage_url, token=token, verify=verify,
            cacert=cacert, cert=cert, cert_key=cert_key,
            retries=_to_int(retries, "retries", 0), starting_backoff=float(starting_backoff),
            max_backoff=float(max_backoff),
            timeout=_timeouts(connect_timeout, timeout),
            use_env=_flag(use_env, "use_env"),
        )
        self.segment_size = _to_int(segment_size, "segment_size", 1)
        self.blocksize = self.segment_size
        self.segment_container = segment_container
        self.leave_segments = _flag(leave_segments, "leave_segments")
        self.create_containers = _flag(create_containers, "create_containers")
        self.page_size = min(_to_int(page_size, "page_size", 1), _MAX_PAGE)
        self.read_block_size = _to_int(read_block_size, "read_block_size", 1)
        self._local = threading.local()
        self._containers: set[str] = set()

    def __repr__(self) -> str:
        where = self._connection_options["authurl"] or self._connection_options["preauthurl"]
        return f"SwiftFileSystem({where!r})"

    # -- connection ------------------------------------------------------------------------

    @property
    def connection(self) -> swiftclient.Connection:
        """This thread's :class:`swiftclient.client.Connection` (they are not thread-safe)."""
        conn = getattr(self._local, "connection", None)
        if conn is None:
            conn = swiftclient.Connection(**self._connection_options)
            self._local.connection = conn
        return conn

    def call(self, path: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``connection.<method>(*args, **kwargs)``, a Swift error becoming an OSError."""
        try:
            return getattr(self.connection, method)(*args, **kwargs)
        except ClientException as exc:
            raise os_error(exc, path) from exc

    # -- paths -----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return super()._strip_protocol(path).lstrip("/")

    def split_path(self, path: str) -> tuple[str, str]:
        """``"swift://c/a/b"`` -> ``("c", "a/b")``; ``"c"`` -> ``("c", "")``."""
        path = self._strip_protocol(path)
        container, _, name = path.partition("/")
        return container, name

    def segment_container_for(self, container: str) -> str:
        """The container holding the segments of large objects stored in ``container``."""
        return self.segment_container.format(container=container)

    def ensure_container(self, container: str) -> None:
        """Create ``container`` unless this filesystem already knows it exists."""
        if container not in self._containers:
            self.call(container, "put_container", container)
            self._containers.add(container)

    # -- containers and directories --------------------------------------------------------

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create a container (``path`` is one: FileExistsError if it exists), or, below one,
        make sure the container exists (pseudo-directories need nothing stored).
        ``storage_policy=`` chooses the new container's policy."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not container:
            raise ValueError("cannot create the account root")
        headers = {}
        if kwargs.get("storage_policy"):
            headers["X-Storage-Policy"] = str(kwargs["storage_policy"])
        if name:
            if create_parents:
                self.ensure_container(container)
            else:
                self.info(container)  # FileNotFoundError if missing
            return
        response: dict[str, Any] = {}
        self.call(container, "put_container", container, headers=headers,
                  response_dict=response)
        self._containers.add(container)
        if response.get("status") == 202:
            raise FileExistsError(container)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Create the container of ``path`` if it is missing."""
        if exist_ok:
            self.ensure_container(self.split_path(path)[0])
            return
        try:
            self.mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok:
                raise

    def rmdir(self, path: str) -> None:
        """Delete an empty container (OSError ENOTEMPTY otherwise); no-op for pseudo-dirs."""
        container, name = self.split_path(path)
        if name:
            return
        self.call(container, "delete_container", container)
        self._containers.discard(container)

    # -- reading ---------------------------------------------------------------------------

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """The bytes ``[start:end]`` of an object, Python-slice style (negative counts from the
        end; ``end`` excluded), fetched with one ``Range`` request."""
        path = self._strip_protocol(path)
        container, name = self.split_path(path)
        if not name:
            raise IsADirectoryError(path)
        start = 0 if start is None else int(start)
        if end is not None:
            end = int(end)
            if start < 0 or end < 0:
                size = self.info(path)["size"]
                start = max(size + start, 0) if start < 0 else start
                end = max(size + end, 0) if end < 0 else end
            if end <= start:
                if not self.exists(path):
                    raise FileNotFoundError(path)
                return b""
            header = f"bytes={start}-{end - 1}"
        elif start < 0:
            header = f"bytes={start}"
        elif start > 0:
            header = f"bytes={start}-"
        else:
            header = ""
        try:
            headers, body = self.connection.get_object(
                container, name, headers={"Range": header} if header else None
            )
        except ClientException as exc:
            if exc.http_status == 416:  # the range starts at or after the end
                return b""
            raise os_error(exc, path) from exc
        if header and "content-range" not in headers:
            # The server ignored the range and sent the whole object: slice it here.
            return bytes(body[slice(start, end)])
        return bytes(body)

    def _open(
        self, path: str, mode: str = "rb", block_size: int | None = None,
        autocommit: bool = True, cache_options: dict[str, Any] | None = None, **kwargs: Any,
    ) -> SwiftFile:
        return SwiftFile(self, path, mode, block_size, autocommit,
                         cache_options=cache_options, **kwargs)
