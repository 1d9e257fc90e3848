"""bench/store.py runs end to end (a tiny run; the figures are the benchmark's, not a test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "store.py"


def test_the_benchmark_runs_every_contestant() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--keys", "300", "--large", "1",
                          "--large-mb", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for name in ("ArchiveStore", "FileSystemStore", "encore FileSystemStore", "sqlite3"):
        assert f"\n{name} " in run.stdout
    assert "x sqlite3 (target >= 1)" in run.stdout and "x encore (target >= 10)" in run.stdout
