"""Talking to remote storage: bounded timeouts, one retry policy, and one error for every failure.

Everything that reaches a bucket or a container (readers listing and opening archives, transfers
uploading them, ``shoebox config check --connect``) goes through fsspec. This module is the one
place that

* gives a store's file system bounded connect and read timeouts and turns its own retries off
  (:func:`remote_options`, :func:`open_remote`): retrying is the shipping worker's job
  (:class:`~shoebox_core.ship.background.RetryPolicy`), so retries are never nested;
* turns what a store's client raises (botocore, aiohttp, requests, swiftclient, the ``OSError``
  s3fs translates to) into one :class:`~shoebox_core.errors.RemoteError` naming the URL and the
  cause in one line (:func:`remote_errors`), and says whether retrying can help: a store that is
  down, slow or busy is transient; a missing bucket or container, access denied or bad
  credentials are ``permanent``.

The ``shoebox`` command reports a RemoteError on one line with exit status 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import RemoteError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "RemoteError",
    "as_remote_error",
    "check_remote",
    "open_remote",
    "remote_errors",
    "remote_options",
]

#: Seconds to wait for a store to accept a connection.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds to wait for a store that accepted a connection to answer.
DEFAULT_READ_TIMEOUT = 30.0

_S3 = ("s3", "s3a")
_SWIFT = ("swift",)
# S3 error codes retrying cannot cure, and what they mean to an operator.
_PERMANENT_CODES = {
    "NoSuchBucket": "no such bucket",
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied",
    "AccountProblem": "access denied (account problem)",
    "InvalidAccessKeyId": "bad credentials (unknown access key)",
    "SignatureDoesNotMatch": "bad credentials (the secret key does not match)",
    "InvalidToken": "bad credentials (invalid session token)",
    "ExpiredToken": "bad credentials (the session token has expired)",
    "InvalidBucketName": "invalid bucket name",
}


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def remote_options(
    url: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> dict[str, Any]:
    """``storage_options`` for ``url`` with bounded timeouts and the store client's own retries
    off, unless the options set them already (a user's explicit setting wins)."""
    options = dict(storage_options or {})
    connect = DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else float(connect_timeout)
    read = DEFAULT_READ_TIMEOUT if read_timeout is None else float(read_timeout)
    scheme = _scheme(url)
    if scheme in _S3:
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("connect_timeout", connect)
        config.setdefault("read_timeout", read)
        config.setdefault("retries", {"total_max_attempts": 1, "mode": "standard"})
        options["config_kwargs"] = config
    elif scheme in _SWIFT:
        options.setdefault("retries", 0)
        options.setdefault("connect_timeout", connect)
        options.setdefault("timeout", read)
    return options


def open_remote(url: str, storage_options: Mapping[str, Any] | None = None,
                **timeouts: float | None) -> tuple[Any, str]:
    """``(filesystem, path)`` for ``url`` with :func:`remote_options`; a failure to build the
    file system (a missing backend, bad credentials) is a :class:`RemoteError`."""
    import fsspec

    with remote_errors(url):
        fs, path = fsspec.core.url_to_fs(url, **remote_options(url, storage_options, **timeouts))
    if _scheme(url) in _S3:
        fs.retries = 1  # s3fs's own retry loop around each call: ours is the only one
    return fs, path


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _endpoint(error: BaseException) -> str:
    """`` at scheme://host:port`` of the request that failed, when the error says ("" if not)."""
    from urllib.parse import urlsplit

    for exc in _chain(error):
        kwargs = getattr(exc, "kwargs", None)
        url = kwargs.get("endpoint_url") if isinstance(kwargs, Mapping) else None
        if isinstance(url, str) and "://" in url:
            parts = urlsplit(url)
            return f" at {parts.scheme}://{parts.netloc}"
    return ""


def _classify(error: BaseException) -> tuple[str, bool] | None:
    """``(cause, permanent)`` for a store failure, None for anything else (a local problem)."""
    found = _cause(error)
    if found is None:
        return None
    cause, permanent = found
    return cause.replace("cannot connect", "cannot connect" + _endpoint(error), 1).replace(
        "no answer", "no answer" + _endpoint(error), 1), permanent


def _cause(error: BaseException) -> tuple[str, bool] | None:
    names = {type(e).__name__ for e in _chain(error)}
    for exc in _chain(error):
        name = type(exc).__name__
        response = getattr(exc, "response", None)
        if isinstance(response, Mapping) and isinstance(response.get("Error"), Mapping):
            code = str(response["Error"].get("Code") or "")
            if code in _PERMANENT_CODES:
                return _PERMANENT_CODES[code], True
            status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
            if status in (401, 403):
                return f"access denied ({code or status})", True
            if status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling"):
                return f"the store is busy or failing ({code or status})", False
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return "no credentials (give key and secret, a profile, or AWS_ACCESS_KEY_ID)", True
        swift = getattr(exc, "http_status", None)  # swiftclient's ClientException
        if isinstance(swift, int) and swift:
            if swift in (401, 403):
                return f"access denied or bad credentials (Swift said {swift})", True
            if swift >= 500:
                return f"the store is failing (Swift said {swift})", False
    for exc in _chain(error):
        if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == \
                errno.ECONNREFUSED:
            return "cannot connect (connection refused)", False
        if isinstance(exc, socket.gaierror) or "Name or service not known" in str(exc):
            return "cannot connect (host name not found)", False
    for exc in _chain(error):
        name = type(exc).__name__
        if name in ("ConnectTimeoutError", "ConnectTimeout") or (
            "connect" in name.lower() and "timeout" in name.lower()):
            return "cannot connect (timed out)", False
        if name in ("ReadTimeoutError", "ReadTimeout", "FSTimeoutError", "ServerTimeoutError") \
                or isinstance(exc, (TimeoutError, asyncio.TimeoutError, socket.timeout)):
            return "no answer (timed out)", False
        if name in ("EndpointConnectionError", "ClientConnectorError", "NewConnectionError") \
                or isinstance(exc, socket.gaierror):
            return "cannot connect", False
        if name in ("ConnectionClosedError", "ServerDisconnectedError", "ClientOSError",
                    "ClientPayloadError", "RemoteDisconnected", "ProtocolError") or \
                isinstance(exc, ConnectionError):
            return f"the connection was lost ({_first_line(str(exc), 100)})", False
    for exc in _chain(error):
        if isinstance(exc, PermissionError):
            return f"access denied ({_first_line(exc.strerror or str(exc), 100)})", True
        text = str(exc).lower()
        if isinstance(exc, FileNotFoundError) and ("bucket" in text or "container" in text):
            return f"no such bucket or container ({_first_line(str(exc), 140)})", True
    if names & {"ClientError", "BotoCoreError", "ClientException", "RequestException",
                "ClientResponseError"}:
        return _first_line(str(error)), False
    return None


def as_remote_error(error: BaseException, url: str) -> RemoteError | None:
    """The :class:`RemoteError` ``error`` (raised while talking to ``url``) amounts to, or None
    when it is not a store failure."""
    if isinstance(error, RemoteError):
        return error
    found = _classify(error)
    if found is None:
        return None
    cause, permanent = found
    return RemoteError(url, cause, permanent=permanent)


@contextlib.contextmanager
def remote_errors(url: str) -> Iterator[None]:
    """Turn a store failure raised inside the block into a :class:`RemoteError` about ``url``
    (chained to the original); anything else passes unchanged."""
    try:
        yield
    except RemoteError:
        raise
    except Exception as exc:
        error = as_remote_error(exc, url)
        if error is None:
            raise
        raise error from exc


def check_remote(transfer: Any) -> str:
    """Reach ``transfer``'s store as an upload would: build its file system (credentials), make
    its bucket or container ready (created if its options say so), write a small test object
    under its prefix and remove it. Returns what was checked; raises :class:`RemoteError`."""
    import uuid

    url = transfer.url
    with remote_errors(url):
        transfer.prepare_remote()
        probe = transfer.remote_path(f".shoebox-check-{uuid.uuid4().hex}")
        try:
            transfer.fs.pipe_file(probe, b"shoebox connection check\n")
        except FileNotFoundError as exc:
            raise RemoteError(url, "no such bucket or container", permanent=True) from exc
        transfer.fs.rm_file(probe)
    return "credentials accepted, test object written and removed"
