"""shoebox_core.remote: bounded timeouts with the store clients' own retries off (a user's explicit
setting wins), and which failures are a RemoteError (the rest pass unchanged)."""

from __future__ import annotations

import errno

import pytest

from shoebox_core.errors import RemoteError
from shoebox_core.remote import as_remote_error, remote_errors, remote_options


def test_s3_gets_bounded_timeouts_and_one_attempt_unless_told_otherwise() -> None:
    options = remote_options("s3://bucket/p", {"endpoint_url": "http://x"})
    assert options["config_kwargs"] == {
        "connect_timeout": 5.0, "read_timeout": 30.0,
        "retries": {"total_max_attempts": 1, "mode": "standard"}}
    mine = remote_options("s3://bucket", {"config_kwargs": {"retries": {"max_attempts": 3},
                                                           "read_timeout": 2}},
                          connect_timeout=1)
    assert mine["config_kwargs"] == {"retries": {"max_attempts": 3}, "read_timeout": 2,
                                     "connect_timeout": 1.0}


def test_swift_gets_bounded_timeouts_and_no_client_retries() -> None:
    assert remote_options("swift://c/p", {"retries": 2}) == {
        "retries": 2, "connect_timeout": 5.0, "timeout": 30.0}
    assert remote_options("/local/dir", {"x": 1}) == {"x": 1}, "local targets are left alone"


def test_a_local_problem_is_not_a_remote_error() -> None:
    for error in (FileNotFoundError(errno.ENOENT, "no such file", "/tmp/x.events"),
                  ValueError("bad"), IsADirectoryError("/tmp")):
        assert as_remote_error(error, "s3://b") is None
        with pytest.raises(type(error)), remote_errors("s3://b"):
            raise error


def test_a_refused_connection_is_transient_and_a_denial_permanent() -> None:
    with pytest.raises(RemoteError) as refused, remote_errors("s3://b/p"):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert str(refused.value) == "s3://b/p: cannot connect (connection refused)"
    assert not refused.value.permanent and refused.value.url == "s3://b/p"
    with pytest.raises(RemoteError) as denied, remote_errors("s3://b/p"):
        raise PermissionError(errno.EACCES, "Access Denied")
    assert denied.value.permanent and denied.value.cause == "access denied (Access Denied)"
