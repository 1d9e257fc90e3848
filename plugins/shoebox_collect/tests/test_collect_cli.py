"""``shoebox collect``: the subcommand the plugin adds to the shoebox command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collect_helpers import contents, inbox_files, sha

from shoebox_collect import Inbox
from shoebox_collect.cli import parse_size


def _shoebox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shoebox_core", *args], capture_output=True,
                          text=True, timeout=120)


def test_collect_once_prints_what_it_did(base: Path) -> None:
    with Inbox(base) as inbox:
        inbox.put("a.zip/x", "x")
        inbox.put("a.zip/x", "y")
    ran = _shoebox("collect", str(base))
    assert ran.returncode == 0, ran.stderr
    assert "added 1, already present 0, renamed 1, quarantined 0" in ran.stdout
    assert f"renamed: a.zip/x -> a.zip/x~{sha(b'y')[:12]}" in ran.stdout
    again = _shoebox("collect", str(base), "--json")
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert (report["added"], report["inboxes_collected"]) == ([], 0)


def test_collect_options_reach_the_collector(base: Path) -> None:
    with Inbox(base) as inbox:
        for n in range(6):
            inbox.put(f"a.zip/{n}", b"z" * 4000)
    ran = _shoebox("collect", str(base), "--max-archive-bytes", "9K", "--compression", "stored")
    assert ran.returncode == 0, ran.stderr
    assert "new archive: a~003.zip" in ran.stdout
    assert len(contents(base, "a.zip")) == 6


def test_errors_give_a_message_and_an_exit_status(base: Path, tmp_path: Path) -> None:
    missing = _shoebox("collect", str(tmp_path / "missing"))
    assert missing.returncode != 0 and "is not a directory" in missing.stderr
    bad = _shoebox("collect", str(tmp_path), "--max-archive-bytes", "lots")
    assert bad.returncode == 2 and "not a size" in bad.stderr
    base.mkdir()
    (base / "a.zip").write_text("not a zip")
    with Inbox(base) as inbox:
        inbox.put("a.zip/x", "x")
    broken = _shoebox("collect", str(base))
    assert broken.returncode == 1 and "error: destination" in broken.stdout


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_every_keeps_collecting_until_sigterm_or_ctrl_c(base: Path, stop: int) -> None:
    base.mkdir()
    daemon = subprocess.Popen([sys.executable, "-m", "shoebox_core", "collect", str(base),
                               "--every", "0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        for n in range(3):
            with Inbox(base) as inbox:
                inbox.put(f"a.zip/{n}", str(n))
            deadline = time.monotonic() + 30
            while inbox_files(base) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert inbox_files(base) == []
    finally:
        daemon.send_signal(stop)
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "stopped" in err
    assert sorted(contents(base, "a.zip")) == ["0", "1", "2"]
    assert out.count("added 1,") == 3


def test_the_subcommand_is_listed_with_its_distribution() -> None:
    helped = _shoebox("--help")
    assert "collect" in helped.stdout and "shoebox-collect" in helped.stdout
    listed = _shoebox("plugins", "--kind", "subcommand")
    assert "collect" in listed.stdout and "shoebox-collect" in listed.stdout


def test_sizes() -> None:
    assert parse_size("50G") == 50 * 1024**3
    assert parse_size("512MiB") == 512 * 1024**2
    assert parse_size("1000") == 1000
