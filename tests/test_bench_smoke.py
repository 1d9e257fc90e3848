"""The benchmark script runs (in its --quick mode) and prints every table, so it cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTESTANTS = ["shoebox v2", "shoebox many", "orjson lines", "json lines", "msgpack stream",
               "fastavro null", "struct framing", "page cache"]
WHOLE_JOB = ["shoebox zstd", "shoebox gzip", "RotatingFileHandler+gzip", "loguru gz",
             "concurrent-log-handler"]
COLUMNS = ["contestant", "write rec/s", "MB/s", "x orjson", "read rec/s", "output MB"]
RATE = r"\d+\.\d\d M|\d+ k"


def test_compare_quick_prints_every_table(shared_data, tmp_path):
    nova = shared_data / "nova-notifications.jsonl.gz"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "compare.py"), "--quick",
         "--nova-data", str(nova), "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    tables = {}
    for name in ("small", "nova"):
        match = re.search(rf"^## {name}: .*?\n(.*?)(?=\n\n|\Z)", out, re.S | re.M)
        assert match, f"no {name} table in:\n{out}"
        tables[name] = match.group(1).splitlines()
    for name, lines in tables.items():
        header = lines[0]
        assert all(column in header for column in COLUMNS), header
        rows = {line[:16].strip(): line for line in lines[2:]}
        assert sorted(rows) == sorted(CONTESTANTS), (name, lines)
        for row in rows.values():
            assert len(re.findall(RATE, row)) == 2, row  # a write and a read rate
            assert len(re.findall(r"\d+\.\d\dx", row)) == 3, row  # three ratios to orjson
        assert rows["orjson lines"].count("1.00x") == 3  # the reference row
    assert re.search(rf"^zstd\s+({RATE})\s+\d+\.\d\dx\s+\d+", out, re.M), out
    assert re.search(rf"^gzip\s+({RATE})\s+\d+\.\d\dx\s+\d+", out, re.M), out
    job = re.search(r"^## whole job: .*?\n(.*?)(?=\n\n|\Z)", out, re.S | re.M)
    assert job, out
    rows = {line[:26].strip(): line for line in job.group(1).splitlines()[2:]}
    assert sorted(rows) == sorted(WHOLE_JOB), job.group(1)
    assert all(re.search(rf"({RATE})\s+\d+\.\d\dx\s+\d+\s+\d+\.\d$", r) for r in rows.values())
    assert "whole job: shoebox zstd vs loguru gz" in out
    memory = re.findall(r"^\s+([\d,]+)\s+(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d)$", out, re.M)
    assert len(memory) == 2, out  # two record counts, writer and reader peak RSS for each
    assert "## targets" in out and "small write vs orjson lines" in out
    assert not list(tmp_path.iterdir()), "the benchmark left files behind"
