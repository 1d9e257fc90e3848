"""``shoebox cat --follow`` / ``--checkpoint`` against a writer in another process (issue 14), and
``shoebox cat --include-in-progress`` on a live file (issue 10, item 18)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shoebox_core.read.position import save_position

from .test_follow import finish, start_writer

CAT = [sys.executable, "-c", "import sys; from shoebox_core.cli.main import main; "
       "sys.exit(main())", "cat"]


_RUNNING: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_cat_left_running():
    """A failed test leaves no ``shoebox cat --follow`` behind (it would run forever)."""
    yield
    while _RUNNING:
        proc = _RUNNING.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def cat(*args: str, stdout: Path) -> subprocess.Popen[bytes]:
    # Block-buffered stdout, as in a pipe: records must show without waiting for more.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(stdout, "ab") as out:
        proc = subprocess.Popen([*CAT, *args], stdout=out, stderr=subprocess.PIPE, env=env)
    _RUNNING.append(proc)
    return proc


def numbers(path: Path) -> list[int]:
    """The record numbers of the complete lines ``shoebox cat`` printed to ``path``."""
    lines = path.read_bytes().split(b"\n")[:-1]
    return [int(json.loads(line)["metadata"]["i"]) for line in lines]


def wait_for(condition, what: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def started(proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``shoebox cat`` has imported shoebox's format package (msgpack's extension is
    mapped into it), then a while more: it installs its SIGTERM handler right after."""
    maps = Path(f"/proc/{proc.pid}/maps")
    wait_for(lambda: proc.poll() is not None or "msgpack" in maps.read_text(), "cat to start")
    time.sleep(2)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


def test_cat_of_a_live_file_ends_quietly_at_its_last_complete_block(tmp_path: Path) -> None:
    writer = start_writer(tmp_path, 0, 250, burst=250, hang=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "flushed\n"
        done = subprocess.run([*CAT, "--include-in-progress", str(tmp_path / "ev_*.events")],
                              capture_output=True, timeout=60)
    finally:
        writer.kill()
        writer.wait()
    assert (done.returncode, done.stderr) == (0, b"")
    assert [int(json.loads(line)["metadata"]["i"]) for line in done.stdout.splitlines()] == (
        list(range(250))
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cat_follow_prints_records_as_they_are_flushed_and_stops_cleanly(
    tmp_path: Path, sig: int
) -> None:
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    follower = cat("--follow", "--poll-interval", "0.02", str(spool / "ev_*.events"), stdout=out)
    writer = start_writer(spool, 0, 400, burst=100, hang=True)
    try:
        wait_for(lambda: out.exists() and len(numbers(out)) == 400, "400 records")
        status, err = stop(follower, sig)
    finally:
        writer.kill()
        writer.wait()
    assert (status, err) == (0, "")
    assert numbers(out) == list(range(400))


def test_cat_follow_checkpoint_killed_and_restarted_prints_every_record(tmp_path: Path) -> None:
    """SIGKILL: every record at least once across restarts; SIGTERM: exactly once."""
    spool, checkpoint = tmp_path / "spool", str(tmp_path / "consumer.pos")
    spool.mkdir()
    args = ["--follow", "--checkpoint", checkpoint, "--poll-interval", "0.05",
            str(spool / "ev_*.events")]
    writer = start_writer(spool, 0, 2000, burst=20, compress=True)
    outs = [tmp_path / f"out{n}" for n in range(4)]
    first = cat(*args, stdout=outs[0])
    wait_for(lambda: outs[0].exists() and len(numbers(outs[0])) >= 300, "300 records")
    first.kill()  # SIGKILL
    first.wait()
    second = cat(*args, stdout=outs[1])
    wait_for(lambda: outs[1].exists() and len(numbers(outs[1])) >= 300, "300 more records")
    assert stop(second) == (0, "")
    at_least_once = numbers(outs[0]) + numbers(outs[1])
    third = cat(*args, stdout=outs[2])
    finish(writer)
    # The last record comes from the third run, or already came from the second (a fast writer
    # and a slow follower: then the third, resumed after it, has nothing left to print).
    wait_for(lambda: outs[2].exists() and 1999 in numbers(outs[1]) + numbers(outs[2]),
             "the last record")
    started(third)  # then a SIGTERM finds its handler, though it had nothing to print
    assert stop(third) == (0, "")
    printed = [n for out in outs[:3] for n in numbers(out)]
    assert set(printed) == set(range(2000)), "every record at least once"
    # The second and third runs were stopped cleanly: from the second on, exactly once.
    after_kill = numbers(outs[1]) + numbers(outs[2])
    assert after_kill == list(range(after_kill[0], 2000))
    assert after_kill[0] <= max(at_least_once[: len(numbers(outs[0]))]) + 1
    # A fourth run has nothing left to print.
    fourth = cat("--checkpoint", checkpoint, str(spool / "ev_*.events"), stdout=outs[3])
    assert fourth.wait(timeout=60) == 0 and numbers(outs[3]) == []


def test_cat_checkpoint_without_follow_reads_on_from_it(tmp_path: Path) -> None:
    finish(start_writer(tmp_path, 0, 700))
    checkpoint = str(tmp_path / "pos")
    first = subprocess.run([*CAT, "-n", "250", "--checkpoint", checkpoint,
                            str(tmp_path / "ev_*.events")], capture_output=True, timeout=60)
    second = subprocess.run([*CAT, "--checkpoint", checkpoint, str(tmp_path / "ev_*.events")],
                            capture_output=True, timeout=60)
    assert (first.returncode, second.returncode) == (0, 0)
    got = [int(json.loads(line)["metadata"]["i"])
           for line in (first.stdout + second.stdout).splitlines()]
    assert got == list(range(700))


def test_cat_follow_usage_errors(tmp_path: Path) -> None:
    two = subprocess.run([*CAT, "--follow", "a*.events", "b*.events"], capture_output=True,
                         timeout=60, cwd=tmp_path)
    assert two.returncode == 2 and b"one PATTERN" in two.stderr
    bad = tmp_path / "pos"
    save_position(str(bad), {"archive": "x"})
    wrong = subprocess.run([*CAT, "--checkpoint", str(bad), "a*.events"], capture_output=True,
                           timeout=60, cwd=tmp_path)
    assert wrong.returncode == 2 and b"created_ns" in wrong.stderr
    assert b"Traceback" not in two.stderr + wrong.stderr
