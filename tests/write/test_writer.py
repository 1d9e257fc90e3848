"""WritingRollManager: roll checkers, durability (real SIGKILL), time, threads, lifecycle."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from shoebox_core.errors import RecordTooLarge, ShoeboxError
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write import checkers as roll_checker
from shoebox_core.write.checkers import (
    CountRollChecker,
    NeverRollChecker,
    RollChecker,
    SizeRollChecker,
)
from shoebox_core.write.manager import WritingRollManager
from tests.write.test_writer_batching import Frozen

REPO = Path(__file__).resolve().parents[2]
TIMECHECK = REPO / "plugins" / "shoebox_timecheck"


def records(n: int, start: int = 0, size: int = 60):
    return [({"i": str(i)}, f"payload {i} " + "x" * size) for i in range(start, start + n)]


def sealed(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if not n.endswith(".inprogress"))


def read_dir(directory: Path, pattern: str = "*.events", **options):
    return list(ReadingRollManager(pattern, str(directory), **options))


def counts(directory: Path, writer: WritingRollManager) -> list[int]:
    """Records per sealed file, in the writer's order."""
    return [sum(1 for _ in read_archive(path)) for path in writer.sealed]


# -- checkers ------------------------------------------------------------------------------------
def test_count_checker(tmp_path):
    with WritingRollManager("c_{seq}.events", CountRollChecker(roll_records=3),
                            str(tmp_path)) as writer:
        writer.write_many(records(10))
    assert counts(tmp_path, writer) == [3, 3, 3, 1]
    assert read_dir(tmp_path) == records(10)


@pytest.mark.parametrize("checker", [NeverRollChecker(), None], ids=["never", "none"])
def test_never_checker_keeps_one_file(tmp_path, checker):
    with WritingRollManager("n_{seq}.events", checker, str(tmp_path), block_records=7) as writer:
        writer.write_many(records(100))
    assert sealed(tmp_path) == ["n_000000.events"]
    assert read_dir(tmp_path) == records(100)


def test_size_checker_rolls_as_soon_as_the_bytes_on_disk_reach_the_limit(
    tmp_path, layout, record_size
):
    """Inclusive: a file rolls on the write that makes it reach ``roll_bytes`` (counting every
    byte it will have on disk before its end marker), never one write later."""
    limit = 5000
    rng = random.Random(5)
    data = [({"i": str(i)}, "y" * rng.randrange(10, 400)) for i in range(300)]
    with WritingRollManager("s_{seq}.events", SizeRollChecker(roll_size_bytes=limit),
                            str(tmp_path), block_records=4) as writer:
        writer.write_many(data)
    assert len(writer.sealed) > 5
    for path in writer.sealed[:-1]:
        blocks = [b for b in layout(path) if b["kind"] == 1]
        last = blocks[-1]
        assert last["end"] >= limit, path
        assert os.path.getsize(path) >= limit
        if last["count"] > 1:
            before_last_record = last["end"] - record_size(last["records"][-1])
        else:
            before_last_record = last["offset"]
        assert before_last_record < limit, path
    assert read_dir(tmp_path, "s_*.events") == data


def test_size_checker_counts_compressed_bytes_on_disk(tmp_path):
    """With per-block zstd the limit still means bytes on disk: files are not sealed early on
    the strength of the uncompressed size of the records still in memory."""
    rng = random.Random(1)
    data = [({"i": str(i)}, rng.randbytes(300).hex()) for i in range(3000)]
    limit = 200_000
    with WritingRollManager("z_{seq}.events", SizeRollChecker(roll_size_bytes=limit),
                            str(tmp_path), compression="zstd", block_bytes=64 * 1024) as writer:
        writer.write_many(data)
    sizes = [os.path.getsize(p) for p in writer.sealed]
    assert len(sizes) > 2
    assert all(limit <= size < limit + 64 * 1024 for size in sizes[:-1]), sizes
    assert read_dir(tmp_path, "z_*.events") == data


def test_a_list_of_checkers_rolls_when_any_says_so(tmp_path):
    small = [({"i": str(i)}, "s") for i in range(10)]
    big = [({"i": str(i)}, "B" * 3000) for i in range(10, 13)]
    checkers = [CountRollChecker(roll_records=5), SizeRollChecker(roll_size_bytes=5000)]
    with WritingRollManager("l_{seq}.events", checkers, str(tmp_path)) as writer:
        writer.write_many(small + big + small[:1])
    # 5 + 5 small by count, then two big ones reach the size first, then the rest.
    assert counts(tmp_path, writer) == [5, 5, 2, 2]
    assert writer.roll_checker == checkers


class SeedStyleChecker(roll_checker.RollChecker):
    """A checker written against stacktach-shoebox: positional init, no super().__init__()."""

    def __init__(self, size_in_bytes):
        self.size_in_bytes = size_in_bytes
        self.calls = []
        self.starts = 0

    def start(self, archive):
        self.starts += 1

    def check(self, archive):
        size = archive._get_file_handle().tell()
        assert size == archive.get_file_handle().tell() == archive.size
        self.calls.append((archive.filename, archive.record_count, size))
        return size >= self.size_in_bytes


def test_a_seed_style_user_checker_works_unchanged_and_is_called_after_every_write(
    tmp_path, layout
):
    checker = SeedStyleChecker(3000)
    data = records(100)
    with WritingRollManager("u_{seq}.events", checker, str(tmp_path), block_records=5,
                            tick_interval=3600) as writer:
        writer.write_many(data)
    assert len(writer.sealed) > 2
    assert checker.starts == len(writer.sealed)
    seen = collections.defaultdict(set)
    last_size = {}
    for filename, count, size in checker.calls:
        seen[filename].add(count)
        last_size[filename] = size
    per_file = counts(tmp_path, writer)
    for path, n in zip(writer.sealed, per_file):
        assert seen[path] >= set(range(1, n + 1)), "check() missed a write"
        # tell() is the byte size the file has on disk (before its end marker).
        assert last_size[path] == [b for b in layout(path) if b["kind"] == 1][-1]["end"]
    for path in writer.sealed[:-1]:
        assert last_size[path] >= 3000
    assert read_dir(tmp_path) == data


class LoggingSizeChecker(roll_checker.SizeRollChecker):
    """A subclass of the size checker that overrides check() and calls its parent."""

    def __init__(self):
        super().__init__(roll_size_mb=0.005)
        self.calls = 0

    def check(self, archive):
        self.calls += 1
        return super().check(archive)


def test_a_size_checker_subclass_overriding_check_is_honoured(tmp_path):
    checker = LoggingSizeChecker()
    with WritingRollManager("v_{seq}.events", checker, str(tmp_path), tick_interval=3600) as w:
        w.write_many(records(300))
    assert checker.calls >= 300
    assert len(w.sealed) > 2
    assert all(os.path.getsize(p) >= checker.roll_bytes for p in w.sealed[:-1])
    assert read_dir(tmp_path) == records(300)


# -- durability: a real process killed with SIGKILL ----------------------------------------------
WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    directory, plan = sys.argv[1], sys.argv[2:]
    options = dict(flush_interval=None, block_records=50)
    counter = 0
    writer = None

    def write(n):
        global counter
        for _ in range(n):
            writer.write({"i": str(counter)}, "payload %d " % counter + "z" * 100)
            counter += 1

    for step in plan:
        op, _, arg = step.partition("=")
        if op == "open":
            for part in filter(None, arg.split(",")):
                key, _, value = part.partition(":")
                options[key] = None if value == "None" else float(value)
            checker = options.pop("roll", None)
            writer = WritingRollManager(
                "k_{seq}.events",
                CountRollChecker(roll_records=int(checker)) if checker else None,
                directory,
                **options,
            )
        elif op == "write":
            write(int(arg))
        elif op == "flush":
            writer.flush()
        elif op == "roll":
            writer.roll()
        elif op == "sleep":
            time.sleep(float(arg))
        elif op == "say":
            print(arg, flush=True)
    time.sleep(60)
    """
)


def run_and_kill(tmp_path: Path, plan: list[str], wait_after: float = 0.0) -> None:
    """Run a writer process through ``plan``; SIGKILL it ``wait_after`` seconds after "ready"."""
    script = tmp_path / "writer_script.py"
    script.write_text(WRITER_SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(out), *plan, "say=ready"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read()
        time.sleep(wait_after)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return out


def read_after_kill(out: Path):
    names = os.listdir(out)
    assert any(n.endswith(".inprogress") for n in names), names
    reader = ReadingRollManager("k_*.events", str(out), include_in_progress=True, lenient=True)
    got = list(reader)
    expected = [({"i": str(i)}, f"payload {i} " + "z" * 100) for i in range(len(got))]
    assert got == expected, "a damaged or reordered record was returned"
    return got, reader


def test_flushed_records_survive_sigkill(tmp_path):
    out = run_and_kill(tmp_path, ["open=roll:300", "write=720", "flush", "write=30"])
    got, reader = read_after_kill(out)
    assert len(got) >= 720
    # The sealed files are intact; only the unsealed one ends early.
    assert len([n for n in os.listdir(out) if n.endswith(".events")]) == 2
    assert all(d.path.endswith(".inprogress") for d in reader.damage)
    # The unsealed file ends quietly at its last complete block (FORMAT.md: a reader of an
    # in-progress file), strictly and leniently alike.
    inprogress = next(str(out / n) for n in os.listdir(out) if n.endswith(".inprogress"))
    assert list(read_archive(inprogress)) == got[600:]
    assert list(read_archive(inprogress, lenient=True)) == got[600:]


def test_several_flushes_then_sigkill(tmp_path):
    out = run_and_kill(tmp_path, ["open=", "write=10", "flush", "write=133", "flush", "write=1",
                                  "flush"])
    got, _ = read_after_kill(out)
    assert len(got) == 144


def test_flush_interval_makes_records_survive_sigkill_without_flush(tmp_path):
    """Records written and left alone for longer than ``flush_interval`` reach the file, even
    when the timer thread was sleeping a long ``tick_interval`` for a file rolled before."""
    plan = ["open=flush_interval:0.3,tick_interval:30", "write=5", "roll", "sleep=0.5",
            "write=17"]
    out = run_and_kill(tmp_path, plan, wait_after=1.0)
    got, _ = read_after_kill(out)
    assert len(got) == 22


def test_first_flush_interval_is_honoured(tmp_path):
    out = run_and_kill(tmp_path, ["open=flush_interval:0.25", "write=9"], wait_after=0.9)
    got, _ = read_after_kill(out)
    assert len(got) == 9


# -- time ----------------------------------------------------------------------------------------
class IdleChecker(RollChecker):
    """Roll ``seconds`` after the archive was opened (a user's own time-based checker)."""

    def __init__(self, *, seconds, clock=None):
        super().__init__(clock=clock)
        self.seconds = seconds

    def start(self, archive):
        self.started = self.clock.monotonic()

    def check(self, archive):
        return self.clock.monotonic() - self.started >= self.seconds

    def seconds_left(self, archive):
        return self.seconds - (self.clock.monotonic() - self.started)


def test_time_roll_fires_on_tick_without_another_write(tmp_path, fake_clock, recorder):
    writer = WritingRollManager("t_{seq}.events", IdleChecker(seconds=60, clock=fake_clock),
                                str(tmp_path), recorder, clock=fake_clock, tick_interval=3600)
    writer.write({}, "one")
    writer.write({}, "two")
    assert 0 < writer.tick() <= 60
    assert writer.sealed == []
    fake_clock.advance(59.5)
    writer.tick()
    assert writer.sealed == []
    fake_clock.advance(0.5)
    writer.tick()  # no write: the timer alone seals the file
    assert writer.sealed == [str(tmp_path / "t_000000.events")]
    assert writer.closer is not None and writer.closer.drain(5)  # on_close runs off the path
    assert recorder.closed == writer.sealed
    assert sealed(tmp_path) == ["t_000000.events"]
    fake_clock.advance(3600)
    writer.tick()  # nothing open: no empty archive appears
    assert os.listdir(tmp_path) == ["t_000000.events"]
    writer.write({}, "three")
    writer.close()
    assert read_dir(tmp_path) == [({}, "one"), ({}, "two"), ({}, "three")]


def test_time_roll_fires_from_the_timer_thread(tmp_path):
    checker = IdleChecker(seconds=0.3)
    with WritingRollManager("r_{seq}.events", checker, str(tmp_path)) as writer:
        writer.write({}, "lonely")
        deadline = time.monotonic() + 2.5
        while not writer.sealed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.sealed, "the time-based roll did not fire without a write"
    assert sealed(tmp_path) == ["r_000000.events"]


def _time_roll_checker():
    # The README's test command installs the plugin; a bare checkout still finds its source.
    try:
        from shoebox_timecheck import TimeRollChecker
    except ImportError:
        sys.path.insert(0, str(TIMECHECK))
        from shoebox_timecheck import TimeRollChecker
    return TimeRollChecker


def test_plugin_time_roll_checker_rolls_without_a_write(tmp_path):
    TimeRollChecker = _time_roll_checker()
    checker = TimeRollChecker(roll_minutes=0.01)
    with WritingRollManager("p_{seq}.events", checker, str(tmp_path)) as writer:
        writer.write({}, "before")
        deadline = time.monotonic() + 2.5
        while not writer.sealed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(writer.sealed) == 1, "TimeRollChecker did not roll without a write"
        writer.write({}, "after")
    assert len(writer.sealed) == 2
    assert read_dir(tmp_path) == [({}, "before"), ({}, "after")]


# -- lifecycle -------------------------------------------------------------------------------------
def test_writer_is_a_context_manager(tmp_path, recorder):
    with WritingRollManager("cm.events", None, str(tmp_path), recorder) as writer:
        writer.write({"a": "b"}, "c")
        # With an on-close chain, a journal follows the file until its chain completes.
        assert sorted(os.listdir(tmp_path)) == ["cm.events.inprogress", "cm.events.state"]
    assert os.listdir(tmp_path) == ["cm.events"]
    assert recorder.events == [("open", str(tmp_path / "cm.events")),
                               ("close", str(tmp_path / "cm.events"))]


def test_context_manager_seals_on_an_exception(tmp_path):
    with pytest.raises(KeyError):
        with WritingRollManager("ex.events", None, str(tmp_path)) as writer:
            writer.write({}, "kept")
            raise KeyError("boom")
    assert read_dir(tmp_path) == [({}, "kept")]


def test_threads_sharing_one_writer_lose_nothing(tmp_path):
    n_threads, per_thread = 8, 2000
    writer = WritingRollManager("th_{seq}.events", CountRollChecker(roll_records=3000),
                                str(tmp_path), block_records=100)
    barrier = threading.Barrier(n_threads)

    def work(t):
        barrier.wait()
        for i in range(per_thread):
            writer.write({"t": str(t), "i": str(i)}, f"{t}:{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    got = read_dir(tmp_path, "th_*.events")
    assert len(got) == n_threads * per_thread
    by_thread = collections.defaultdict(list)
    for metadata, payload in got:
        assert payload == f"{metadata['t']}:{metadata['i']}"
        by_thread[metadata["t"]].append(int(metadata["i"]))
    assert all(seq == list(range(per_thread)) for seq in by_thread.values())
    assert len(writer.sealed) == 6
    assert counts(tmp_path, writer) == [3000] * 5 + [1000]


def test_close_twice_is_fine_and_write_after_close_raises(tmp_path, recorder):
    writer = WritingRollManager("cl.events", None, str(tmp_path), recorder)
    writer.write({}, "x")
    writer.close()
    writer.close()
    with pytest.raises(ShoeboxError, match="closed"):
        writer.write({}, "y")
    writer.close()
    assert recorder.events == [("open", str(tmp_path / "cl.events")),
                               ("close", str(tmp_path / "cl.events"))]
    assert os.listdir(tmp_path) == ["cl.events"]
    assert read_dir(tmp_path) == [({}, "x")]


def test_record_too_large(tmp_path):
    with WritingRollManager("big.events", None, str(tmp_path), max_record_bytes=1000) as w:
        with pytest.raises(RecordTooLarge, match="max_record_bytes"):
            w.write({}, "x" * 1001)
        assert os.listdir(tmp_path) == []  # nothing opened for a refused record
        w.write({"n": "1"}, "x" * 900)
        with pytest.raises(RecordTooLarge):
            w.write({}, b"y" * 5000)
        with pytest.raises(RecordTooLarge):  # the metadata counts too
            w.write({"k": "v" * 5000}, "small")
        w.write({"n": "2"}, "ok")
    assert read_dir(tmp_path) == [({"n": "1"}, "x" * 900), ({"n": "2"}, "ok")]
    assert issubclass(RecordTooLarge, ValueError)


def test_write_is_the_compiled_one_when_built_and_takes_its_arguments_by_name(tmp_path):
    """write() is one C call when the extension is built (no Python frame per record), the
    pure-Python one otherwise; both take metadata and payload by position or by name, and
    refuse anything else with a TypeError before a file exists."""
    from shoebox_core.format import codec
    from shoebox_core.write.intake import PythonIntake

    defined_in = next(k for k in WritingRollManager.__mro__ if "write" in vars(k))
    if codec.NATIVE:
        assert defined_in is codec._NATIVE_MODULE.Intake
    else:
        assert defined_in is PythonIntake
    with WritingRollManager("kw.events", None, str(tmp_path), block_records=2) as w:
        for bad in [(), ({},), ({}, "p", "extra")]:
            with pytest.raises(TypeError):
                w.write(*bad)
        with pytest.raises(TypeError):
            w.write({}, payload="p", metadata={})
        with pytest.raises(TypeError):
            w.write({}, body="p")
        assert os.listdir(tmp_path) == []
        w.write(metadata={"n": "1"}, payload="one")
        w.write({"n": "2"}, payload=b"two")
        w.write({"n": "3"}, "three")
        with pytest.raises(TypeError, match="'k'"):
            w.write({"k": 3}, "p")
    assert read_dir(tmp_path) == [({"n": "1"}, "one"), ({"n": "2"}, b"two"),
                                  ({"n": "3"}, "three")]


def test_a_record_msgpack_cannot_encode_leaves_the_archive_intact(tmp_path):
    """A str with a lone surrogate passes the type checks but cannot be encoded: the error is
    raised, and the records before and after it are read back intact."""
    with WritingRollManager("sur.events", None, str(tmp_path), flush_interval=None) as w:
        w.write({"n": "1"}, "first")
        with pytest.raises(UnicodeEncodeError):
            w.write({"n": "bad"}, "lone \ud800 surrogate")
        with pytest.raises(UnicodeEncodeError):
            w.write({"bad \udcff": "x"}, "payload")
        w.write({"n": "2"}, "second")
    assert read_dir(tmp_path) == [({"n": "1"}, "first"), ({"n": "2"}, "second")]


def test_a_metadata_mapping_that_is_not_a_dict_is_stored_as_a_dict(tmp_path):
    with WritingRollManager("map.events", None, str(tmp_path), block_records=3) as w:
        w.write_many(records(4))
        w.write(Frozen({"k": "v"}), "p")
        w.write_many(records(4, start=4))
    got = read_dir(tmp_path)
    assert got == records(4) + [({"k": "v"}, "p")] + records(4, start=4)
    assert type(got[4][0]) is dict


def test_a_failed_first_record_leaves_no_file(tmp_path):
    with WritingRollManager("f.events", None, str(tmp_path)) as w:
        with pytest.raises(UnicodeEncodeError):
            w.write({}, "\udcff")
        assert os.listdir(tmp_path) == []
    assert os.listdir(tmp_path) == []


# -- no empty archives ---------------------------------------------------------------------------
def test_a_writer_closed_without_writes_leaves_no_file(tmp_path, recorder):
    writer = WritingRollManager("e_{seq}.events", SizeRollChecker(roll_size_mb=1),
                                str(tmp_path / "sub"), recorder)
    writer.close()
    assert not (tmp_path / "sub").exists() or os.listdir(tmp_path / "sub") == []
    assert recorder.events == []
    with WritingRollManager("e2.events", None, str(tmp_path)) as writer:
        pass
    assert os.listdir(tmp_path) in ([], ["sub"])


def test_a_roll_never_leaves_an_empty_file(tmp_path):
    with WritingRollManager("r_{seq}.events", CountRollChecker(roll_records=2),
                            str(tmp_path)) as writer:
        writer.write_many(records(4))
        assert os.listdir(tmp_path) == ["r_000000.events", "r_000001.events"] or sorted(
            os.listdir(tmp_path)) == ["r_000000.events", "r_000001.events"]
        assert writer.roll() is None  # nothing open: nothing to seal
        writer.roll()
    assert sorted(os.listdir(tmp_path)) == ["r_000000.events", "r_000001.events"]
    assert all(os.path.getsize(tmp_path / n) > 0 for n in os.listdir(tmp_path))
    assert counts(tmp_path, writer) == [2, 2]


def test_roll_returns_the_sealed_name(tmp_path):
    with WritingRollManager("m_{seq}.events", None, str(tmp_path)) as writer:
        writer.write({}, "a")
        assert writer.roll() == str(tmp_path / "m_000000.events")
        writer.write({}, "b")
    assert writer.sealed == [str(tmp_path / "m_000000.events"), str(tmp_path / "m_000001.events")]


def test_bad_compression_is_refused(tmp_path):
    with pytest.raises(ValueError, match="compression"):
        WritingRollManager("x.events", None, str(tmp_path), compression="lz4")
