"""Several processes writing with one template into one directory at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from shoebox_core.read.manager import ReadingRollManager

WRITER = textwrap.dedent(
    """
    import sys
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    directory, worker = sys.argv[1], sys.argv[2]
    # Same template, same directory, a name that changes only once a second: every roll of every
    # process collides with the others.
    with WritingRollManager("c_%Y%m%dT%H%M%S.events", CountRollChecker(roll_records=150),
                            directory=directory, block_records=32) as w:
        for i in range(1500):
            w.write({"w": worker, "i": str(i)}, "payload %s %d" % (worker, i))
    """
)


def test_eight_processes_one_template_one_directory(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)],
                         stderr=subprocess.PIPE, text=True)
        for n in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if not n.endswith(".events")], names
    assert len(names) == 8 * 10, "each roll got its own file"
    by_worker: dict[str, list[int]] = {}
    for metadata, payload in ReadingRollManager("c_*.events", str(tmp_path)):
        assert payload == f"payload {metadata['w']} {metadata['i']}"
        by_worker.setdefault(metadata["w"], []).append(int(metadata["i"]))
    # Every record present exactly once, and each writer's records in its own write order.
    assert sorted(by_worker) == [str(n) for n in range(8)]
    for records in by_worker.values():
        assert records == list(range(1500))


def test_wall_clock_stepping_back_keeps_read_order(tmp_path: Path) -> None:
    from shoebox_core.clock import FakeClock
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    clock = FakeClock()
    with WritingRollManager("j_%Y%m%dT%H%M%S.events", CountRollChecker(roll_records=10),
                            str(tmp_path), clock=clock) as writer:
        for i in range(60):
            if i % 10 == 0:
                clock.jump(-3600 if i == 30 else 5)  # an NTP step back in the middle
            writer.write({"i": str(i)}, "x")
    got = [int(m["i"]) for m, _ in ReadingRollManager("j_*.events", str(tmp_path))]
    assert got == list(range(60))
