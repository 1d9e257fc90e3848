"""The entry point and the ``shoebox dask-count`` command, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from dask_testdata import Dataset

import shoebox_dask


def shoebox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shoebox_core", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_entry_point_is_installed_and_listed(tmp_path: Path) -> None:
    (point,) = [e for e in metadata.entry_points(group="shoebox") if e.name == "dask"]
    assert point.value == "shoebox_dask.plugin"
    assert point.dist is not None and point.dist.name == "shoebox-dask"
    assert point.dist.version == shoebox_dask.__version__
    listed = shoebox("plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if "dask-count" in line)
    assert row[:4] == ["dask-count", "subcommand", "shoebox-dask", "0.1.0"]


def test_dask_count_on_a_running_scheduler(many: Dataset, cluster: Any, tmp_path: Path) -> None:
    address = cluster.scheduler_address
    total = shoebox("dask-count", str(many.directory), "--scheduler", address,
                    "--blocksize", "100 KiB", cwd=tmp_path)
    assert total.returncode == 0, total.stderr
    assert json.loads(total.stdout) == {"records": len(many.all_records)}
    by_type = shoebox("dask-count", *map(str, many.files[:2]), "--by", "host", "--scheduler",
                      address, cwd=tmp_path)
    assert by_type.returncode == 0, by_type.stderr
    rows = [json.loads(line) for line in by_type.stdout.splitlines()]
    expected = Counter(m.get("host") for recs in many.records[:2] for m, _ in recs)
    assert {r["host"]: r["records"] for r in rows} == dict(expected)


def test_dask_count_strict_and_lenient_on_damage(
    many: Dataset, cluster: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.events"
    data = bytearray(many.files[0].read_bytes())
    data[len(data) // 2] ^= 0x10
    bad.write_bytes(bytes(data))
    address = cluster.scheduler_address
    strict = shoebox("dask-count", str(bad), "--scheduler", address, cwd=tmp_path)
    assert strict.returncode != 0
    assert f"{bad} at byte" in strict.stderr
    lenient = shoebox("dask-count", str(bad), "--lenient", "--scheduler", address, cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    assert 0 < json.loads(lenient.stdout)["records"] < len(many.records[0])
    assert "shoebox: skipped" in lenient.stderr and str(bad) in lenient.stderr
