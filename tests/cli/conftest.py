"""Running the real ``shoebox`` command for the command-line tests: as a subprocess with pipes
(:func:`shoebox`, :func:`written`), on a pseudo-terminal (:func:`on_a_terminal`), with the JSON
lines a producer would send (:func:`events`) and a pipeline config (the ``config`` fixture, or
:func:`pipeline_config` for a test file's own)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap
import threading
from pathlib import Path

import pytest

from shoebox_core.cli._common import EXIT_OK

PYTHON = [sys.executable, "-m", "shoebox_core"]


def shoebox(*args: str, cwd: Path, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shoebox_core ARGS`` (what the ``shoebox`` script runs)."""
    return subprocess.run(
        [*PYTHON, *args], cwd=cwd, input=stdin, text=True,
        capture_output=True, timeout=120, env={**os.environ, **(env or {})},
    )


def events(n: int, start: int = 0) -> list[str]:
    """``n`` JSON lines shaped like notifications, formatted as a producer might."""
    return [
        json.dumps({"event_type": f"compute.instance.{('create', 'delete')[i % 2]}",
                    "publisher_id": f"compute.host-{i % 3}", "seq": i,
                    "payload": {"instance_id": f"i-{i}", "size": 1.0}}, indent=None)
        for i in range(start, start + n)
    ]


def written(tmp_path: Path, config: Path, lines: list[str],
            *extra: str) -> subprocess.CompletedProcess[str]:
    """``shoebox write -c CONFIG`` of ``lines``, which must succeed."""
    result = shoebox("write", "-c", str(config), *extra, cwd=tmp_path,
                     stdin="\n".join(lines) + "\n")
    assert result.returncode == EXIT_OK, result.stderr
    return result


def on_a_terminal(args: list[str], cwd: Path, stdin: str = "", *,
                  stdout: bool = True) -> tuple[str, int]:
    """Run ``shoebox ARGS`` with its stderr (and its stdout, unless ``stdout=False``) on a
    pseudo-terminal of 24 x 100, ``stdin`` piped in; what the terminal showed and the exit
    status."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen([*PYTHON, *args], cwd=cwd, stdin=subprocess.PIPE,
                               stdout=slave if stdout else subprocess.DEVNULL, stderr=slave)
    os.close(slave)

    def feed() -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(stdin.encode())
            process.stdin.close()
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    chunks = []
    # Read while the command runs (a full terminal would block it) until the terminal closes.
    while select.select([master], [], [], 120)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    feeder.join(10)
    return b"".join(chunks).decode(errors="replace"), process.wait(timeout=120)


def pipeline_config(directory: Path, text: str) -> Path:
    """``text`` (dedented) as ``directory/pipeline.toml``."""
    path = directory / "pipeline.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A pipeline writing ``archive/ev_*.events`` (blocks of 50 records, rolled every 200,
    gzipped), with two fields from the input."""
    return pipeline_config(tmp_path, """\
        directory = "archive"
        template = "ev_%Y%m%dT%H%M%S_{seq}.events"

        [writer]
        block_records = 50

        [[roll]]
        plugin = "count"
        roll_records = 200

        [[on_close]]
        plugin = "gzip"

        [input]
        fields = ["event_type", "host=publisher_id"]
        """)
