"""Turning swiftclient's HTTP errors into the OSError subclasses fsspec callers expect."""

from __future__ import annotations

import errno

from swiftclient.exceptions import ClientException

__all__ = ["os_error"]


def os_error(exc: ClientException, path: str) -> OSError:
    """The OSError for a failed Swift request on ``path``: 404 is FileNotFoundError, 401 and 403
    PermissionError, 412 (``If-None-Match: *``) FileExistsError, 409 on a container "not empty";
    anything else an OSError carrying the HTTP status and Swift's transaction id."""
    status = exc.http_status
    reason = f"Swift said {status} {exc.http_reason}".strip()
    if exc.transaction_id:
        reason += f" (transaction {exc.transaction_id})"
    if status == 404:
        return FileNotFoundError(errno.ENOENT, reason, path)
    if status in (401, 403):
        return PermissionError(errno.EACCES, reason, path)
    if status == 412:
        return FileExistsError(errno.EEXIST, reason, path)
    if status == 409:
        return OSError(errno.ENOTEMPTY, reason, path)
    return OSError(errno.EIO, f"{exc.msg}: {reason}" if status else str(exc), path)
