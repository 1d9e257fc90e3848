"""Many real worker processes and two collectors at once: every file exactly once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from collect_helpers import contents, inbox_files, unzip_ok
from collect_workers import expected

from shoebox_collect import collect

HERE = Path(__file__).parent
WORKERS, FILES, ARCHIVES = 8, 300, 3


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "collect_workers.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_eight_workers_and_two_collectors_every_file_exactly_once(base: Path) -> None:
    # Three destinations: the two collectors hold different ones at once, never waiting.
    base.mkdir()
    stopfile = base.parent / "stop"
    # All started at once: same second, same host, one shared base directory.
    workers = [_spawn("stage", str(base), str(w), str(FILES), "0.2", str(ARCHIVES))
               for w in range(WORKERS)]
    collectors = [_spawn("collect", str(base), str(stopfile)) for _ in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        assert out.count("done ") == FILES
    stopfile.touch()
    collected = 0
    for collector in collectors:
        out, err = collector.communicate(timeout=300)
        assert collector.returncode == 0, err
        assert "errors []" in out and "errors ['" not in out
        collected += sum(int(line.split()[1]) for line in out.splitlines())
    final = collect(base)
    assert final.renamed == [] and final.errors == []
    # The collectors together (with the final pass) added each file once.
    assert collected + len(final.added) == WORKERS * FILES
    wanted = expected(WORKERS, FILES, ARCHIVES)
    assert sorted(wanted) == ["out.zip", "out1.zip", "out2.zip"]
    for archive, files in wanted.items():
        assert contents(base, archive) == files
        unzip_ok(base / archive)
    assert inbox_files(base) == []
