"""Files that are not the writer's own (issue 10: items 2, 3, 5, 12): another template's in-progress
files, templates that collide with our reserved suffixes, ``{pid}`` / ``{host}`` templates after a
restart or a host rename, and tampered journals that point outside the directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoebox_core.errors import CallbackError, ConfigError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.ship.file_callbacks import DeleteCallback
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.naming import TemplateNamer

# A writer process: writes N records with the template, flushes, then is SIGKILLed (or closes,
# with "close"). HOST, when given, is the host name the process sees (a renamed pod).
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, socket, sys
    template, directory, count, end, host, chain = sys.argv[1:7]
    if host:
        socket.gethostname = lambda: host
    from shoebox_core.ship.file_callbacks import MoveCallback
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager
    callbacks = [MoveCallback(directory=chain, create=False)] if chain else None
    w = WritingRollManager(template, CountRollChecker(roll_records=1000), directory,
                           callbacks, block_records=10, flush_interval=None, background=False)
    for i in range(int(count)):
        w.write({"i": str(i)}, f"{host or 'p'}-{i}")
    w.flush()
    print(w._archive.path, flush=True)
    if end == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        w.close()
    except Exception as exc:
        print("close:", exc, flush=True)
    """
)


def run_writer(template: str, directory: Path, count: int, *, end: str = "kill", host: str = "",
               move_to: str = "") -> str:
    """Run the writer process; return the path of its last in-progress file."""
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, template, str(directory), str(count), end, host,
         move_to], capture_output=True, text=True, timeout=60,
    )
    expected = -signal.SIGKILL if end == "kill" else 0
    assert proc.returncode == expected, proc.stderr
    return proc.stdout.splitlines()[0]


def shoebox(*args: str, host: str = "") -> subprocess.CompletedProcess[str]:
    """The ``shoebox`` command in a process that sees host name ``host``."""
    code = ("import socket, sys\n"
            f"if {host!r}: socket.gethostname = lambda: {host!r}\n"
            "from shoebox_core.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)


# -- 2: recovery touches only what its own template could have produced -------------------------


def test_recovery_leaves_another_templates_in_progress_file_alone(tmp_path: Path) -> None:
    other = Path(run_writer("ev_%Y%m%d_b_{seq}.events", tmp_path, 25))
    before = other.read_bytes()
    mine = WritingRollManager("ev_%Y%m%d_{seq}.events", None, str(tmp_path),
                              [ZstdCallback()], background=False)
    mine.write({"a": "b"}, "mine")
    mine.close()
    assert mine.recovered == []
    assert other.read_bytes() == before, "the dead writer's file of another template is untouched"
    config = tmp_path / "mine.toml"
    config.write_text(f'directory = "{tmp_path}"\ntemplate = "ev_%Y%m%d_{{seq}}.events"\n'
                      '[[on_close]]\nplugin = "zstd"\n')
    result = shoebox("recover", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert other.read_bytes() == before
    assert not list(tmp_path.glob("ev_*_b_*.events")), "not sealed either"


@pytest.mark.parametrize("template, produced, other", [
    ("ev_%Y%m%d_{seq}.events", "ev_20260101_000001.events", "ev_20260101_b_000001.events"),
    ("ev_%Y%m%d_{seq}.events", "ev_20260101_000001.events", "ev_2026010112_000001.events"),
    ("ev_%H%M_{seq}.events", "ev_2359_000123.events", "ev_23_59_000123.events"),
    ("ev_%b_{seq}.events", "ev_Jan_000001.events", "ev_1_000001.events"),
    ("ev_{pid}_{seq}.events", "ev_4242_000000.events", "ev_x4242_000000.events"),
    ("ev_{host}_{seq:03d}.events", "ev_web-1.example_007.events", "ev_web-1_07.events"),
])
def test_each_strftime_code_and_field_matches_precisely(template: str, produced: str,
                                                        other: str) -> None:
    pattern = TemplateNamer(template=template).regex()
    assert pattern.fullmatch(produced)
    assert not pattern.fullmatch(other)


# -- 3: templates colliding with our own suffixes --------------------------------------------------


@pytest.mark.parametrize("template", [
    "x_{seq}.inprogress", "x.state", "x_{seq}.tmp.state", "x_{seq}.events.zst", "x_{seq}.gz",
    "x_{seq}.partial", "x_%Y.damaged", "x_{seq}.reserving", "ev_{host}",
])
def test_templates_producing_reserved_suffixes_are_refused(tmp_path: Path, template: str) -> None:
    with pytest.raises(ConfigError, match="reserves for its own files"):
        WritingRollManager(template, None, str(tmp_path))
    config = tmp_path / "bad.toml"
    config.write_text(f'directory = "{tmp_path}"\ntemplate = "{template}"\n')
    result = shoebox("config", "check", str(config))
    assert result.returncode == 2, result.stdout
    assert template in result.stderr and "reserves" in result.stderr
    assert os.listdir(tmp_path) == ["bad.toml"], "nothing created"


# -- 5: {pid} and {host} templates after a restart; a renamed host's journals --------------------


def test_pid_and_host_templates_are_recovered_by_the_next_process(tmp_path: Path) -> None:
    template = "h_{host}_{pid}_{seq}.events"
    left = Path(run_writer(template, tmp_path, 30, host="old-pod-7f9c"))
    assert left.name.startswith("h_old-pod-7f9c_") and left.exists()
    writer = WritingRollManager(template, None, str(tmp_path))
    writer.write({"i": "new"}, "new")
    writer.close()
    assert [r.source for r in writer.recovered] == [str(left)]
    assert not list(tmp_path.glob("*.inprogress"))
    payloads = [p for _, p in ReadingRollManager("h_*.events", str(tmp_path))]
    assert payloads == [f"old-pod-7f9c-{i}" for i in range(30)] + ["new"]


def test_a_renamed_hosts_pending_journal_is_reported_then_taken_over(tmp_path: Path) -> None:
    spool, target = tmp_path / "spool", tmp_path / "shipped"
    spool.mkdir()
    template = "m_{seq}.events"
    run_writer(template, spool, 20, end="close", host="old-pod", move_to=str(target))
    journals = list(spool.glob("*.state"))
    assert len(journals) == 1 and json.loads(journals[0].read_text())["state"] == "failed"
    config = tmp_path / "p.toml"
    config.write_text(f'directory = "{spool}"\ntemplate = "{template}"\n[[on_close]]\n'
                      f'plugin = "move"\ndirectory = "{target}"\ncreate = false\n')
    target.mkdir()  # the step can succeed now
    result = shoebox("recover", "-c", str(config), host="new-pod")
    assert result.returncode == 3, result.stderr
    assert "old-pod" in result.stderr and "--take-over old-pod" in result.stderr
    assert "nothing to recover" not in result.stdout + result.stderr
    assert list(target.iterdir()) == [], "not taken without the operator's word"
    result = shoebox("recover", "-c", str(config), "--take-over", "old-pod", host="new-pod")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["m_000000.events"]
    assert list(spool.iterdir()) == [], "journal finished and removed"
    assert [p for _, p in ReadingRollManager("m_*.events", str(target))] == [
        f"old-pod-{i}" for i in range(20)]


# -- 12: journals naming files outside their directory --------------------------------------------


def _tampered_journal(spool: Path, archive: str, name: str, steps: list[str]) -> Path:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    journal = spool / f"{archive}.state"
    journal.write_text(json.dumps({
        "format": "shoebox-journal", "version": 1, "archive": archive, "name": name,
        "state": "failed", "steps": steps, "done": 0, "notes": {}, "attempts": 1,
        "owner": f"{os.uname().nodename}:{dead}:1", "opened": 1.0, "sealed": 2.0,
        "updated": 3.0, "history": [],
    }))
    return journal


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_tampered_journal_never_touches_a_file_outside_the_directory(tmp_path: Path,
                                                                        how: str) -> None:
    import socket

    assert socket.gethostname() == os.uname().nodename
    spool, outside = tmp_path / "spool", tmp_path / "outside"
    spool.mkdir()
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("not an archive of ours")
    if how == "symlink":
        (spool / "t_000000.events").symlink_to(secret)
        name = "t_000000.events"
    else:
        name = "../outside/secret.txt" if how == "dotdot" else str(secret)
    _tampered_journal(spool, "t_000000.events", name, ["zstd", "delete"])
    writer = WritingRollManager("t_{seq}.events", CountRollChecker(roll_records=5), str(spool),
                                [ZstdCallback(), DeleteCallback()], background=False)
    writer.write({"a": "b"}, "c")
    with pytest.raises(CallbackError, match="leads outside"):
        writer.close()
    assert secret.read_text() == "not an archive of ours"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"], "nothing compressed"
