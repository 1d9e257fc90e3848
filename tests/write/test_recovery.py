"""Crash recovery: in-progress files of killed writers are sealed, live writers' files are not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write.checkers import CountRollChecker, NeverRollChecker
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.recovery import recover_directory, recover_file

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    directory = sys.argv[1]
    total, flush_at, seed = (int(a) for a in sys.argv[2:5])
    w = WritingRollManager("r_{seq}.events", CountRollChecker(roll_records=700),
                           directory=directory, block_records=50, flush_interval=None)
    for i in range(total):
        w.write({"i": str(i)}, "p%d-" % i + "x" * (seed % 300))
        if i == flush_at:
            w.flush()
            print(i, flush=True)       # acknowledged as durable
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _run_killed_writer(directory: Path, total: int, flush_at: int, seed: int) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(directory), str(total), str(flush_at), str(seed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return int(proc.stdout.split()[0])


@pytest.mark.parametrize("seed", range(6))
def test_flushed_records_survive_sigkill_and_recovery(tmp_path: Path, seed: int) -> None:
    total = 1500 + seed * 137
    flush_at = 900 + seed * 71
    acknowledged = _run_killed_writer(tmp_path, total, flush_at, seed)
    assert any(name.endswith(".inprogress") for name in os.listdir(tmp_path))

    results = recover_directory(str(tmp_path))
    assert results and all(r.sealed for r in results)
    assert not [n for n in os.listdir(tmp_path) if n.endswith((".inprogress", ".partial"))]

    got = [int(m["i"]) for m, _ in ReadingRollManager("r_*.events", str(tmp_path))]
    # Every acknowledged record, exactly once and in order; anything after it is a clean prefix.
    assert got[: acknowledged + 1] == list(range(acknowledged + 1))
    assert got == list(range(len(got)))


def test_live_writer_file_is_not_touched(tmp_path: Path) -> None:
    writer = WritingRollManager("live.events", NeverRollChecker(), directory=str(tmp_path))
    writer.write({"a": "b"}, "payload")
    writer.flush()
    inprogress = tmp_path / "live.events.inprogress"
    assert inprogress.exists()
    assert recover_directory(str(tmp_path)) == []
    assert recover_file(str(inprogress)) is None
    assert inprogress.exists()
    writer.write({"a": "c"}, "payload 2")
    writer.close()
    assert [p for _, p in ReadingRollManager("live.events", str(tmp_path))] == [
        "payload",
        "payload 2",
    ]


def _dead_inprogress(tmp_path: Path, records: int = 300) -> tuple[Path, int]:
    """An in-progress file as a killed writer leaves it (the writer's lock is gone)."""
    writer = WritingRollManager(
        "d.events", NeverRollChecker(), directory=str(tmp_path), block_records=100
    )
    for i in range(records):
        writer.write({"i": str(i)}, f"payload {i}")
    writer.flush()
    path = Path(writer._archive.path)  # type: ignore[union-attr]
    size = path.stat().st_size
    writer._archive.abandon()  # type: ignore[union-attr]  # the lock dies with the descriptor
    writer._archive = None
    return path, size


def test_torn_tail_is_dropped_and_good_blocks_kept(tmp_path: Path) -> None:
    path, size = _dead_inprogress(tmp_path)
    with open(path, "ab") as f:
        f.write(b"\x00" * 17)  # a block header cut short, as a killed write leaves it
    result = recover_file(str(path))
    assert result is not None and result.records == 300 and result.skipped_bytes == 17
    assert not path.exists()
    got = list(read_archive(result.sealed))  # strict: the sealed file is complete
    assert [m["i"] for m, _ in got] == [str(i) for i in range(300)]


def test_damage_in_the_middle_keeps_the_blocks_after_it(tmp_path: Path) -> None:
    path, _ = _dead_inprogress(tmp_path)
    data = bytearray(path.read_bytes())
    _, header_len = _v2.read_file_header(open(path, "rb"), str(path))
    data[header_len + 100] ^= 0xFF  # inside the first block
    path.write_bytes(bytes(data))
    result = recover_file(str(path))
    assert result is not None and result.records == 200
    assert [m["i"] for m, _ in read_archive(result.sealed)] == [str(i) for i in range(100, 300)]


def test_nothing_recoverable_leaves_no_file(tmp_path: Path) -> None:
    empty = tmp_path / "e.events.inprogress"
    empty.write_bytes(b"")
    cut = tmp_path / "c.events.inprogress"
    cut.write_bytes(_v2.MAGIC[:5])
    results = recover_directory(str(tmp_path))
    assert [r.sealed for r in results] == [None, None]
    assert os.listdir(tmp_path) == []


def test_garbage_is_set_aside_not_deleted(tmp_path: Path) -> None:
    junk = tmp_path / "j.events.inprogress"
    junk.write_bytes(b"this is not an archive" * 10)
    (result,) = recover_directory(str(tmp_path))
    assert result.sealed is None and "kept as" in result.note
    assert (tmp_path / "j.events.damaged").read_bytes() == b"this is not an archive" * 10


def test_recovery_never_overwrites_the_final_name(tmp_path: Path) -> None:
    path, _ = _dead_inprogress(tmp_path, records=10)
    (tmp_path / "d.events").write_bytes(b"someone else's file")
    result = recover_file(str(path))
    assert result is not None and result.sealed == str(tmp_path / "d~001.events")
    assert (tmp_path / "d.events").read_bytes() == b"someone else's file"


def test_writer_recovers_its_template_on_start_and_runs_on_close(tmp_path: Path) -> None:
    _run_killed_writer(tmp_path, 1000, 600, 1)
    (tmp_path / "other.log.inprogress").write_bytes(b"not ours")
    closed: list[str] = []

    class Record:
        def on_open(self, name: str) -> None:
            pass

        def on_close(self, name: str) -> None:
            closed.append(name)

    writer = WritingRollManager(
        "r_{seq}.events",
        CountRollChecker(roll_records=700),
        directory=str(tmp_path),
        archive_callback=Record(),
    )
    writer.write({"i": "after"}, "restart")
    writer.close()
    assert [r.sealed for r in writer.recovered] == closed[:1]
    assert (tmp_path / "other.log.inprogress").exists()  # another template: not ours to seal
    got = [m["i"] for m, _ in ReadingRollManager("r_*.events", str(tmp_path))]
    assert got[-1] == "after" and got[:601] == [str(i) for i in range(601)]


def test_a_dead_reservation_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    import fcntl

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f".d.events.{int(gone.stdout)}.abcd.reserving"
    dead.write_bytes(b"")
    live = tmp_path / f".l.events.{int(gone.stdout)}.ef01.reserving"
    live.write_bytes(b"")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        recover_directory(str(tmp_path))
        assert not dead.exists() and live.exists()
        mine = tmp_path / f".m.events.{os.getpid()}.0000.reserving"  # alive: about to lock it
        mine.write_bytes(b"")
        recover_directory(str(tmp_path))
        assert mine.exists()
    finally:
        os.close(fd)


def test_a_new_in_progress_file_is_locked_from_its_first_moment(tmp_path: Path) -> None:
    """Regression: a starting writer's recovery took another process's freshly created,
    not yet locked in-progress file for a dead writer's and removed it."""
    from shoebox_core.write.naming import reserve

    fd, temp, final = reserve(str(tmp_path), "x.events")
    try:
        assert os.listdir(tmp_path) == ["x.events.inprogress"]  # no hidden name left behind
        assert recover_file(temp) is None  # locked: a live writer's
    finally:
        os.close(fd)
