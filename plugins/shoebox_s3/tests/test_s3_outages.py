"""A remote that is down, frozen, missing or refusing, against a real moto server, a port with
nothing listening and a server that accepts and never answers; and ``shoebox write`` meeting them
(what it says, SIGTERM, a restart that resumes, ``config check --connect``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import s3fs
from shoebox_core.errors import CallbackError, RemoteError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.background import ShippingEvent
from shoebox_core.testing.servers.moto import MotoServer
from shoebox_core.testing.servers.silent import FrozenServer
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager

from shoebox_s3 import S3Transfer

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true", **extra}


def shoebox(*args: str, env: dict[str, str] | None = None, stdin: Any = subprocess.DEVNULL,
            cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shoebox_core", *args], stdin=stdin,
                          capture_output=True, text=True, env=env or environment(),
                          cwd=cwd, timeout=timeout)


def bucket_fs(moto: MotoServer) -> Any:
    return s3fs.S3FileSystem(skip_instance_cache=True, **moto.storage_options())


def new_bucket(moto: MotoServer) -> str:
    name = f"shoebox-{uuid.uuid4().hex[:12]}"
    bucket_fs(moto).mkdir(name)
    return name


def config(tmp_path: Path, endpoint: str, bucket: str, *, secret: str = "secret",
           writer: str = "", **transfer: Any) -> Path:
    options = "".join(f"{k} = {json.dumps(v)}\n" for k, v in transfer.items())
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'directory = "{tmp_path / "spool"}"\ntemplate = "ev_{{seq}}.events"\n\n'
        '[[roll]]\nplugin = "count"\nroll_records = 2\n\n'
        f'[[on_close]]\nplugin = "s3"\nurl = "s3://{bucket}/p"\nendpoint_url = "{endpoint}"\n'
        f'key = "testing"\nsecret = "{secret}"\nremove_local = true\n{options}\n'
        f"[writer]\n{writer}"
    )
    return path


def lines(n: int, start: int = 0) -> str:
    return "".join(json.dumps({"event_type": "x", "n": i}) + "\n" for i in range(start, start + n))


# -- reading from a bucket that cannot be reached -------------------------------------------------


@pytest.mark.parametrize("command", ["ls", "cat", "verify"])
def test_reading_from_an_unreachable_endpoint_is_one_line_and_exit_3(
    command: str, dead_endpoint: str
) -> None:
    result = shoebox(command, "s3://bucket/p/*.events",
                     f"--storage-option=endpoint_url={dead_endpoint}",
                     "--storage-option=key=k", "--storage-option=secret=s")
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"shoebox {command}: s3://bucket/p: cannot connect at {dead_endpoint} "
        "(connection refused)"
    ]
    assert result.stdout == ""


def test_the_reading_manager_raises_one_remote_error(dead_endpoint: str) -> None:
    reader = ReadingRollManager("s3://bucket/p/*.events", storage_options={
        "endpoint_url": dead_endpoint, "key": "k", "secret": "s"})
    with pytest.raises(RemoteError) as caught:
        list(reader)
    assert caught.value.url == "s3://bucket/p" and not caught.value.permanent
    assert "connection refused" in str(caught.value)


def test_reading_without_credentials_says_so(moto: MotoServer, tmp_path: Path) -> None:
    env = environment(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                      AWS_CONFIG_FILE=str(tmp_path / "none"))
    result = shoebox("ls", "s3://bucket/*.events",
                     f"--storage-option=endpoint_url={moto.endpoint_url}", env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        "shoebox ls: s3://bucket: no credentials (give key and secret, a profile, or "
        "AWS_ACCESS_KEY_ID)"
    ]


def test_a_frozen_server_is_left_after_the_read_timeout(frozen_endpoint: FrozenServer) -> None:
    result = shoebox("ls", "s3://bucket/*.events",
                     f"--storage-option=endpoint_url={frozen_endpoint.endpoint_url}",
                     "--storage-option=key=k", "--storage-option=secret=s",
                     '--storage-option=config_kwargs={"read_timeout": 1}')
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"shoebox ls: s3://bucket: no answer at {frozen_endpoint.endpoint_url} (timed out)"
    ]
    assert frozen_endpoint.accepted == 1, "one request: no retry by botocore or s3fs"


# -- writing while the remote is down or refuses ------------------------------------------------


def test_a_missing_bucket_is_not_retried(moto: MotoServer, tmp_path: Path) -> None:
    events: list[ShippingEvent] = []
    transfer = S3Transfer(url="s3://no-such-bucket/p", endpoint_url=moto.endpoint_url,
                          key="testing", secret=moto.secret)
    writer = WritingRollManager("m_{seq}.events", None, str(tmp_path), [transfer],
                                retry={"max_attempts": 5, "initial_delay": 0.01},
                                on_shipping_event=events.append)
    writer.write({}, "x")
    with pytest.raises(CallbackError, match="no such bucket"):
        writer.close()
    assert writer.closer is not None and writer.closer.stats().attempts == 1
    assert [e.kind for e in events] == ["failed"]
    assert os.path.exists(tmp_path / "m_000000.events"), "the file is kept"


def test_while_the_remote_is_down_one_file_probes_and_the_others_wait(
    moto: MotoServer, tmp_path: Path
) -> None:
    events: list[ShippingEvent] = []
    transfer = S3Transfer(url="s3://later/p", endpoint_url=moto.endpoint_url, key="testing",
                          secret=moto.secret, create_bucket=True, remove_local=True)
    retry = {"max_attempts": 3, "initial_delay": 0.3, "multiplier": 1, "jitter": 0,
             "requeue_after": None}
    moto.stop()
    writer = WritingRollManager("b_{seq}.events", CountRollChecker(roll_records=1),
                                str(tmp_path), [transfer], retry=retry,
                                on_shipping_event=events.append)
    for i in range(5):
        writer.write({}, f"record {i}")
    closer = writer.closer
    assert closer is not None
    deadline = time.monotonic() + 60
    while closer.stats().parked < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = closer.stats()
    assert stats.parked == 5 and stats.next_try > 0 and closer.breaker.is_open
    probes = [e for e in events if e.kind == "waiting"]
    assert probes and {os.path.basename(e.path) for e in probes} == {"b_000000.events"}, (
        "only the head of the backlog reached for the remote")
    assert all("connection refused" in (e.error or "") for e in probes)
    held = [e for e in events if e.kind == "failed" and "b_000000" not in e.path]
    assert len(held) == 4 and all("not tried" in (e.error or "") for e in held)

    moto.start()  # back (empty: the bucket is created on the first upload)
    deadline = time.monotonic() + 60
    while closer.stats().done < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.close()
    assert not closer.breaker.is_open
    assert sorted(os.listdir(tmp_path)) == []
    names = sorted(p.rsplit("/", 1)[1] for p in bucket_fs(moto).find("later"))
    assert names == [f"b_{i:06d}.events" for i in range(5)]


# -- shoebox write against a remote that is down, frozen, or back --------------------------------


def test_write_says_what_waits_and_how_it_will_be_shipped_then_a_restart_resumes(
    moto: MotoServer, tmp_path: Path
) -> None:
    path = config(tmp_path, moto.endpoint_url, "resumed", secret=moto.secret,
                  create_bucket=True,
                  writer="retry = {initial_delay = 0.2, max_delay = 0.5, max_attempts = 2}\n"
                  "close_timeout = 60\n")
    moto.stop()
    first = subprocess.run([sys.executable, "-m", "shoebox_core", "write", "-c", str(path)],
                           input=lines(5), capture_output=True, text=True, env=environment(),
                           timeout=120)
    assert first.returncode == 3, first.stderr
    assert "files waiting to ship, next try in" in first.stderr
    assert "cannot connect" in first.stderr and "connection refused" in first.stderr
    summary = first.stderr.strip().splitlines()[-1]
    assert summary.startswith("shoebox write: 3 files not shipped (s3://resumed/p: cannot "
                              "connect at ")
    assert f"'shoebox write -c {path}' (even with no input: </dev/null)" in summary
    assert sorted(n for n in os.listdir(tmp_path / "spool") if n.endswith(".events")) == [
        "ev_000000.events", "ev_000001.events", "ev_000002.events"]

    moto.start()
    again = shoebox("write", "-c", str(path))  # stdin is /dev/null: nothing new to write
    assert again.returncode == 0, again.stderr
    assert os.listdir(tmp_path / "spool") == []
    reader = ReadingRollManager("s3://resumed/p/ev_*.events",
                                storage_options=moto.storage_options())
    assert [json.loads(payload)["n"] for _, payload in reader] == list(range(5))


def test_write_to_a_frozen_server_is_bounded_and_says_so(
    frozen_endpoint: FrozenServer, tmp_path: Path
) -> None:
    path = config(tmp_path, frozen_endpoint.endpoint_url, "bucket", read_timeout=1,
                  writer="retry = {initial_delay = 0.2, max_attempts = 2}\nclose_timeout = 30\n")
    result = subprocess.run([sys.executable, "-m", "shoebox_core", "write", "-c", str(path)],
                            input=lines(2), capture_output=True, text=True, env=environment(),
                            timeout=120)
    assert result.returncode == 3, result.stderr
    assert "1 file waiting to ship, next try in" in result.stderr
    assert f"no answer at {frozen_endpoint.endpoint_url} (timed out)" in result.stderr
    assert "1 file not shipped" in result.stderr.strip().splitlines()[-1]
    assert sorted(os.listdir(tmp_path / "spool")) == ["ev_000000.events", "ev_000000.events.state"]


def test_sigterm_seals_ships_and_exits_as_ctrl_c_does(moto: MotoServer, tmp_path: Path) -> None:
    bucket = new_bucket(moto)
    path = config(tmp_path, moto.endpoint_url, bucket, secret=moto.secret)
    path.write_text(path.read_text().replace("roll_records = 2", "roll_records = 1000"))
    process = subprocess.Popen([sys.executable, "-m", "shoebox_core", "write", "-c", str(path)],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment())
    assert process.stdin is not None
    process.stdin.write(lines(3))
    process.stdin.flush()
    spool = tmp_path / "spool"
    deadline = time.monotonic() + 60
    while not any(n.endswith(".inprogress") for n in (os.listdir(spool) if spool.exists()
                                                      else [])):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # stdin stays open: only the signal ends it
    process.wait(60)
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.stdin.close()
    assert process.returncode == 130, stderr
    *_, summary, last = stderr.strip().splitlines()
    assert last == "shoebox write: interrupted"
    # The signal stops the input between records: those written (all, or the first ones if
    # it came while the first was being written) are sealed, shipped, verified and removed.
    written = int(re.match(r"shoebox write: wrote (\d+) records? into 1 archive", summary)[1])
    assert written >= 1
    assert os.listdir(spool) == [], "sealed, shipped, verified and removed"
    assert bucket_fs(moto).find(bucket) == [f"{bucket}/p/ev_000000.events"]
    reader = ReadingRollManager(f"s3://{bucket}/p/ev_*.events",
                                storage_options=moto.storage_options())
    assert [json.loads(payload)["n"] for _, payload in reader] == list(range(written))


# -- shoebox config check --connect --------------------------------------------------------------


def test_config_check_connect_reports_each_remote(
    moto: MotoServer, tmp_path: Path, dead_endpoint: str
) -> None:
    bucket = new_bucket(moto)
    good = config(tmp_path, moto.endpoint_url, bucket, secret=moto.secret)
    result = shoebox("config", "check", "--connect", str(good))
    assert result.returncode == 0, result.stderr
    assert f"s3://{bucket}/p: ok (credentials accepted, test object written and removed)" in (
        result.stdout)
    assert bucket_fs(moto).find(bucket) == [], "the test object was removed"

    missing = config(tmp_path, moto.endpoint_url, "no-such-bucket", secret=moto.secret)
    result = shoebox("config", "check", "--connect", str(missing))
    assert result.returncode == 3
    assert "s3://no-such-bucket/p: FAILED: no such bucket" in result.stdout

    down = config(tmp_path, dead_endpoint, bucket)
    result = shoebox("config", "check", "--connect", str(down))
    assert result.returncode == 3
    assert f"s3://{bucket}/p: FAILED: cannot connect at {dead_endpoint} (connection refused)" in (
        result.stdout)
