"""Faults users hit: a full disk or file-size limit, permission denied, a working directory that
disappears, the wall clock jumping with time checkers active."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoebox_core.clock import FakeClock
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write.checkers import CountRollChecker, SizeRollChecker
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.recovery import recover_directory

LIMITED_WRITER = textwrap.dedent(
    """
    import resource, sys
    from shoebox_core.errors import ShoeboxError
    from shoebox_core.write.checkers import SizeRollChecker
    from shoebox_core.write.manager import WritingRollManager

    directory = sys.argv[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))  # files may not grow past it
    w = WritingRollManager("f_{seq}.events", SizeRollChecker(roll_size_mb=1), directory,
                           block_records=50, flush_interval=None)
    errors = 0
    written = []  # write() returned since the last error: flush() makes these durable
    for i in range(2000):
        try:
            w.write({"phase": "2", "i": str(i)}, "x" * 500)
            written.append(i)
            if i % 100 == 99:
                w.flush()
                print("ack", *written, flush=True)
                written.clear()
        except ShoeboxError as exc:
            written.clear()  # the error says the records waiting were not stored
            errors += 1
            if errors == 1:
                print("error", exc, flush=True)
    try:
        w.close()
    except ShoeboxError as exc:
        print("close-error", exc, flush=True)
    print("errors", errors, flush=True)
    """
)


def test_file_size_limit_gives_a_clear_error_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with WritingRollManager("f_{seq}.events", SizeRollChecker(roll_size_bytes=50_000),
                            str(tmp_path)) as writer:
        for i in range(300):
            writer.write({"phase": "1", "i": str(i)}, "y" * 500)
    sealed_before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert len(sealed_before) >= 2

    proc = subprocess.run([sys.executable, "-c", LIMITED_WRITER, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # a clear error, not a crash
    lines = proc.stdout.splitlines()
    error = next(line for line in lines if line.startswith("error "))
    assert "File too large" in error and ".inprogress" in error and "not stored" in error
    acked = {int(i) for line in lines if line.startswith("ack ") for i in line.split()[1:]}
    assert len(acked) > 1000 and "errors 0" not in lines

    for name, content in sealed_before.items():  # sealed files intact
        assert (tmp_path / name).read_bytes() == content
    recover_directory(str(tmp_path))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".inprogress")]
    got = [(m["phase"], int(m["i"])) for m, _ in ReadingRollManager("f_*.events", str(tmp_path))]
    assert got[:300] == [("1", i) for i in range(300)]
    phase2 = [i for phase, i in got if phase == "2"]
    assert acked <= set(phase2), "an acknowledged record was lost"
    assert phase2 == sorted(set(phase2)), "a record came back twice or out of order"


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="POSIX only")
def test_permission_denied_names_the_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    script = textwrap.dedent(
        """
        import os, sys
        from shoebox_core.write.manager import WritingRollManager  # imported while still allowed
        w = WritingRollManager("p_{seq}.events", None, sys.argv[1])
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)   # root ignores permissions: become nobody
        else:
            os.chmod(sys.argv[1], 0o500)
        try:
            w.write({"a": "b"}, "payload")
        except OSError as exc:
            print(type(exc).__name__, exc)
        """
    )
    os.chmod(locked, 0o755)
    proc = subprocess.run([sys.executable, "-c", script, str(locked)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PermissionError") and str(locked) in proc.stdout
    assert list(locked.iterdir()) == []


def test_a_working_directory_removed_while_writing_is_recreated_and_nothing_lost(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "work"
    writer = WritingRollManager("d_{seq}.events", CountRollChecker(roll_records=100),
                                str(directory), flush_interval=None)
    for i in range(150):  # one sealed file, one active with 50 records
        writer.write({"i": str(i)}, "payload")
    writer.flush()
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()  # an operator's rm -rf
    for i in range(150, 300):
        writer.write({"i": str(i)}, "payload")
    writer.close()
    got = [int(m["i"]) for m, _ in ReadingRollManager("d_*.events", str(directory))]
    # The first sealed file went with the directory; the active one was saved, and so is all
    # that came after.
    assert got == list(range(100, 300))


def test_clock_jumps_with_time_checkers(tmp_path: Path) -> None:
    from shoebox_timecheck import AlignedRollChecker, TimeRollChecker

    clock = FakeClock(start=1_700_000_000.0)  # 22:13:20 UTC
    writer = WritingRollManager(
        "t_%Y%m%dT%H%M%S.events",
        [TimeRollChecker(roll_minutes=10, clock=clock), AlignedRollChecker(clock=clock)],
        str(tmp_path), clock=clock, tick_interval=3600, background=False,
    )
    writer.write({"i": "0"}, "a")
    clock.jump(-3600)  # NTP steps the wall clock back an hour: duration-based roll unaffected
    clock.advance(599)
    writer.tick()
    assert writer.sealed == []
    clock.advance(1)
    writer.tick()
    assert len(writer.sealed) == 1  # ten monotonic minutes after opening
    writer.write({"i": "1"}, "b")
    clock.jump(2 * 3600)  # a forward step past the hour boundary: the aligned checker rolls now
    writer.tick()
    assert len(writer.sealed) == 2
    writer.write({"i": "2"}, "c")
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and len(set(names)) == 3  # nothing overwritten
    got = [m["i"] for m, _ in ReadingRollManager("t_*.events", str(tmp_path))]
    assert got == ["0", "1", "2"]
    # Each file whole, one record each (a generator is always true: count what it yields).
    assert [len(list(read_archive(str(tmp_path / n)))) for n in names] == [1, 1, 1]
