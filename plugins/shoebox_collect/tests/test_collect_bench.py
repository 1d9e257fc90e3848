"""The benchmark runs (a tiny smoke run: its figures are not checked, only that it works)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "collect.py"


def test_the_benchmark_runs_and_shoebox_collect_loses_nothing(tmp_path: Path) -> None:
    ran = subprocess.run([sys.executable, str(BENCH), "--workers", "2", "--files", "60",
                          "--dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    rows = {line[:24].strip(): line[24:].split() for line in ran.stdout.splitlines()}
    assert rows["shoebox-collect"][-1] == "0" and rows["shoebox-collect batch"][-1] == "0"
    assert rows["plain files + zipfile"][-1] == "0"
    assert "shoebox-collect vs rear-style, unique names: staging" in ran.stdout
    assert list(tmp_path.iterdir()) == []  # it cleans up after itself
