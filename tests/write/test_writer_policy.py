"""The roll policy: what each checker declares it needs, asked once per archive, and the one place
that decides; write_many() sending only an unusual record the slow way."""

from __future__ import annotations

import math
import os
import threading

import pytest

from shoebox_core import roll_checker as seed_roll_checker
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.testing import FakeArchive
from shoebox_core.write import intake as _intake
from shoebox_core.write.checkers import (
    CountRollChecker,
    NeverRollChecker,
    RollChecker,
    RollNeeds,
    SizeRollChecker,
    time_only,
)
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.policy import RollPolicy, needs_of


def records(n: int, start: int = 0) -> list[tuple[dict[str, str], str]]:
    return [({"i": str(i)}, f"payload {i} " + "x" * 80) for i in range(start, start + n)]


def counts(writer: WritingRollManager) -> list[int]:
    return [sum(1 for _ in read_archive(path)) for path in writer.sealed]


# -- what checkers declare -------------------------------------------------------------------------
class SeedStyle(RollChecker):
    """A stacktach-shoebox checker: overrides check() only."""

    def __init__(self) -> None:
        pass

    def check(self, archive):
        return archive.get_file_handle().tell() > 10**9


class DuckTyped:
    """Not a RollChecker at all: start() and check() only."""

    def start(self, archive):
        pass

    def check(self, archive):
        return False


class LoggingCount(CountRollChecker):
    """Overrides check() of a checker that declares a record limit, and not needs()."""

    def check(self, archive):
        return super().check(archive)


class DeclaredSubclass(CountRollChecker):
    """Overrides check() and declares needs() again: its declaration is trusted."""

    def check(self, archive):
        raise AssertionError("check() of a checker with an inline limit must not be called")

    def needs(self, archive):
        return RollNeeds(max_records=self.roll_records)


@pytest.mark.parametrize("checker, expected", [
    (NeverRollChecker(), RollNeeds()),
    (RollChecker(), RollNeeds()),
    (SizeRollChecker(roll_size_bytes=5000), RollNeeds(max_bytes=5000)),
    (CountRollChecker(roll_records=7), RollNeeds(max_records=7)),
    (SeedStyle(), RollNeeds(per_write=True)),
    (DuckTyped(), RollNeeds(per_write=True)),
    (LoggingCount(roll_records=7), RollNeeds(per_write=True)),
    (DeclaredSubclass(roll_records=7), RollNeeds(max_records=7)),
], ids=["never", "base", "size", "count", "seed-style", "duck", "override-check", "redeclared"])
def test_each_checker_declares_what_it_needs(checker, expected):
    assert needs_of(checker, FakeArchive()) == expected  # type: ignore[arg-type]


def test_the_base_class_asks_a_seed_style_subclass_after_every_write():
    assert SeedStyle().needs(FakeArchive()) == RollNeeds(per_write=True)


@pytest.mark.parametrize("field", ["max_bytes", "max_records"])
@pytest.mark.parametrize("bad", [0, -1, "10", True, None])
def test_roll_needs_refuses_a_limit_that_is_not_a_positive_number(field, bad):
    with pytest.raises(ValueError, match=field):
        RollNeeds(**{field: bad})


def test_needs_must_return_roll_needs(tmp_path):
    class Wrong(RollChecker):
        def check(self, archive):
            return False

        def needs(self, archive):
            return {"max_records": 3}

    with pytest.raises(TypeError, match="RollNeeds"):
        WritingRollManager("w.events", Wrong(), str(tmp_path)).write({}, "x")


def test_the_policy_keeps_the_smallest_limits_and_lists_who_to_ask(tmp_path):
    seed, duck = SeedStyle(), DuckTyped()
    policy = RollPolicy([SizeRollChecker(roll_size_bytes=9000), CountRollChecker(roll_records=5),
                         SizeRollChecker(roll_size_bytes=4000), seed, duck])
    archive = FakeArchive()
    policy.start(archive)  # type: ignore[arg-type]
    assert (policy.max_bytes, policy.max_records) == (4000, 5)
    assert (archive.stop_bytes, archive.stop_records) == (4000, 5)  # type: ignore[attr-defined]
    assert policy.per_write == [seed, duck] and policy.timed == [seed, duck]


class ShrinkingLimit(RollChecker):
    """Its limit changes at each start(): the policy must ask again for each archive."""

    def __init__(self) -> None:
        super().__init__()
        self.limits = iter([3, 5, 2, 100])
        self.asked = 0

    def start(self, archive):
        self.limit = next(self.limits)

    def check(self, archive):
        raise AssertionError("an inline limit is never asked for by calling check()")

    def needs(self, archive):
        self.asked += 1
        return RollNeeds(max_records=self.limit)


def test_needs_are_asked_once_per_archive_after_start(tmp_path):
    checker = ShrinkingLimit()
    with WritingRollManager("s_{seq}.events", checker, str(tmp_path)) as writer:
        writer.write_many(records(7))
        for metadata, payload in records(5, start=7):
            writer.write(metadata, payload)
    assert counts(writer) == [3, 5, 2, 2]
    assert checker.asked == 4
    assert list(ReadingRollManager("s_*.events", str(tmp_path))) == records(12)


def test_a_declared_limit_rolls_inline_without_calling_check(tmp_path):
    with WritingRollManager("d_{seq}.events", DeclaredSubclass(roll_records=4),
                            str(tmp_path)) as writer:
        writer.write_many(records(10))
    assert counts(writer) == [4, 4, 2]


class Timed(RollChecker):
    """Declares ``timed``: asked on the timer only, never per write."""

    def __init__(self, *, clock=None):
        super().__init__(clock=clock)
        self.checks = 0  # asked by the calling thread (the writer's own timer thread aside)

    def start(self, archive):
        self.deadline = self.clock.monotonic() + 30

    def check(self, archive):
        if threading.current_thread() is threading.main_thread():
            self.checks += 1
        return self.clock.monotonic() >= self.deadline

    def needs(self, archive):
        return RollNeeds(timed=True)

    def seconds_left(self, archive):
        return self.deadline - self.clock.monotonic()


def test_a_timed_checker_is_asked_on_the_timer_only(tmp_path, fake_clock):
    checker = Timed(clock=fake_clock)
    writer = WritingRollManager("t_{seq}.events", checker, str(tmp_path), clock=fake_clock,
                                tick_interval=3600, flush_interval=None)
    writer.write_many(records(500))
    for metadata, payload in records(100, start=500):
        writer.write(metadata, payload)
    assert checker.checks == 0  # 600 writes asked nothing
    assert writer.tick() == 30  # the timer sleeps until the checker's deadline
    assert checker.checks == 1
    fake_clock.advance(30)
    writer.tick()
    assert len(writer.sealed) == 1
    writer.close()
    assert counts(writer) == [600]


def test_deprecated_tags_warn_and_leave_a_checker_correct(tmp_path):
    with pytest.warns(DeprecationWarning, match="needs"):

        class Tagged(RollChecker):
            @time_only
            def check(self, archive):
                return archive.record_count >= 3

    assert needs_of(Tagged(), FakeArchive()) == RollNeeds(per_write=True)
    with WritingRollManager("g_{seq}.events", Tagged(), str(tmp_path)) as writer:
        writer.write_many(records(7))
    assert counts(writer) == [3, 3, 1]


def test_the_seed_import_path_keeps_its_public_names():
    for name in seed_roll_checker.__all__:
        assert getattr(seed_roll_checker, name) is not None, name
    assert seed_roll_checker.RollChecker is RollChecker


def test_no_limit_means_room_without_bound(tmp_path):
    policy = RollPolicy([NeverRollChecker()])
    archive = FakeArchive()
    policy.start(archive)  # type: ignore[arg-type]
    assert policy.max_bytes == policy.max_records == math.inf
    assert policy.poll(archive) == (False, None)  # type: ignore[arg-type]


# -- write_many: only the unusual record goes the slow way -----------------------------------------
def test_pack_batch_encodes_up_to_the_first_unusual_record():
    data = records(10)
    unusual = [*data[:4], (_Frozen({"a": "1"}), "x"), *data[5:]]
    packed = _intake.pack_batch(unusual, 1 << 20)
    assert len(packed) == 4
    assert len(_intake.pack_batch(data, 1 << 20)) == 10


class _Frozen(dict):
    """A dict subclass: accepted, but not by write_many()'s one-loop check."""


@pytest.mark.parametrize("unusual", [
    (_Frozen({"a": "1"}), "sub"),
    ({"b": "2"}, bytearray(b"ba")),
    ({"big": "1"}, "B" * (_intake.BIG_RECORD * 2)),
], ids=["dict-subclass", "bytearray", "big"])
def test_write_many_sends_only_the_unusual_record_the_slow_way(tmp_path, unusual):
    data = records(1200)
    batch = [*data[:300], unusual, *data[300:900], unusual, *data[900:]]
    with WritingRollManager("m_{seq}.events", CountRollChecker(roll_records=250),
                            str(tmp_path)) as writer:
        slow = []
        write = writer.write

        def counting_write(metadata, payload):
            slow.append(metadata)
            write(metadata, payload)

        writer.write = counting_write  # type: ignore[method-assign]
        writer.write_many(batch)
    assert slow == [unusual[0], unusual[0]]
    expected = [(dict(m), bytes(p) if isinstance(p, bytearray) else p) for m, p in batch]
    assert list(ReadingRollManager("m_*.events", str(tmp_path))) == expected
    assert counts(writer)[:-1] == [250] * (len(batch) // 250)
    assert all(os.path.exists(path) for path in writer.sealed)


class FailsOnce(RollChecker):
    """A seed-style checker whose check() raises once, at the archive's third record."""

    def __init__(self) -> None:
        self.failed = False

    def check(self, archive):
        if archive.record_count == 3 and not self.failed:
            self.failed = True
            raise RuntimeError("checker failed")
        return archive.record_count >= 5


def test_a_per_write_checker_that_raises_neither_loses_nor_repeats_a_record(tmp_path):
    data = records(8)
    writer = WritingRollManager("f_{seq}.events", FailsOnce(), str(tmp_path))
    for metadata, payload in data:
        # The record was taken before check() raised: stored, so write() must not raise (a
        # caller retrying would store it twice); close() reports the failure.
        writer.write(metadata, payload)
    with pytest.raises(RuntimeError, match="checker failed"):
        writer.close()
    assert list(ReadingRollManager("f_*.events", str(tmp_path))) == data
    assert counts(writer) == [5, 3]


def test_the_timed_checker_of_writing_plugins_md_rolls_on_the_timer(tmp_path, fake_clock):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)
                if "RollNeeds(timed=True)" in block)
    namespace: dict[str, object] = {}
    exec(code, namespace)  # noqa: S102 (our own documentation)
    checker = namespace["EveryMinutesRollChecker"](minutes="1", clock=fake_clock)  # type: ignore[operator]
    writer = WritingRollManager("e_{seq}.events", checker, str(tmp_path), clock=fake_clock,
                                tick_interval=3600, flush_interval=None)
    writer.write_many(records(50))
    assert writer._policy.timed == [checker] and writer._policy.per_write == []
    assert writer.tick() == 60
    fake_clock.advance(60)
    writer.tick()
    assert len(writer.sealed) == 1
    writer.close()
