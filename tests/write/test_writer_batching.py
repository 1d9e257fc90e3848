"""The writer's hot path: records encoded at once, batched without a lock, moved a block at a
time; write_many(); rolls that stay exact and happen in the write() that reaches the limit."""

from __future__ import annotations

import collections
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping

import pytest

from shoebox_core.errors import RecordTooLarge, ShoeboxError
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write import intake as _intake
from shoebox_core.write.checkers import CountRollChecker, SizeRollChecker
from shoebox_core.write.manager import WritingRollManager


def records(n: int, start: int = 0) -> list[tuple[dict[str, str], str]]:
    rng = random.Random(start)
    return [({"i": str(i), "host": f"h{rng.randrange(50)}"}, "p" * rng.randrange(0, 400))
            for i in range(start, start + n)]


def read_dir(directory, pattern: str = "*.events") -> list:
    return list(ReadingRollManager(pattern, str(directory)))


def test_metadata_changed_after_write_does_not_reach_the_archive(tmp_path):
    metadata = {"host": "a"}
    with WritingRollManager("m.events", None, str(tmp_path)) as writer:
        for i in range(1000):
            metadata["i"] = str(i)
            writer.write(metadata, "x")
        metadata["i"] = "changed"
    assert [m["i"] for m, _ in read_dir(tmp_path)] == [str(i) for i in range(1000)]


@pytest.mark.parametrize("make", [
    lambda: SizeRollChecker(roll_size_bytes=20_000),
    lambda: CountRollChecker(roll_records=37),
    lambda: [SizeRollChecker(roll_size_bytes=15_000), CountRollChecker(roll_records=53)],
], ids=["size", "count", "both"])
def test_a_file_is_sealed_by_the_write_that_reaches_its_limit(tmp_path, make):
    """Records wait in memory between block moves, yet never past a roll limit: each file is
    sealed during the very write() of its last record, never one later."""
    data = records(3000)
    sealed_after = []
    with WritingRollManager("r_{seq}.events", make(), str(tmp_path)) as writer:
        for metadata, payload in data:
            writer.write(metadata, payload)
            sealed_after.append(len(writer.sealed))
    counts = [sum(1 for _ in read_archive(path)) for path in writer.sealed]
    assert sum(counts) == len(data) and len(counts) > 3
    last_of_file = 0
    for k, count in enumerate(counts[:-1]):
        last_of_file += count
        index = last_of_file - 1  # the write of the file's last record
        assert sealed_after[index] == k + 1, (k, index)
        assert sealed_after[index - 1] == k, (k, index)
    assert read_dir(tmp_path) == data


def test_blocks_end_where_the_record_by_record_rule_puts_them(tmp_path, layout, record_size):
    data = records(2000)
    path = tmp_path / "b.events"
    with WritingRollManager("b.events", None, str(tmp_path), block_bytes=8192) as writer:
        writer.write_many(data[:1000])
        for metadata, payload in data[1000:]:
            writer.write(metadata, payload)
    blocks = [b for b in layout(path) if b["kind"] == 1]
    assert sum(b["count"] for b in blocks) == len(data)
    for block in blocks[:-1]:
        sizes = [record_size(r) for r in block["records"]]
        assert sum(sizes) >= 8192 > sum(sizes[:-1])


def test_a_record_of_a_big_payload_is_written_in_order(tmp_path):
    big = ({"big": "1"}, "B" * (_intake.BIG_RECORD * 3))
    data = records(100) + [big] + records(100, start=100) + [big]
    with WritingRollManager("g.events", None, str(tmp_path)) as writer:
        for metadata, payload in data:
            writer.write(metadata, payload)
    assert read_dir(tmp_path) == data


# -- write_many ------------------------------------------------------------------------------------
def test_write_many_writes_everything_in_order(tmp_path):
    data = records(5000) + [({"b": "1"}, b"\x00\xff" * 10), ({}, "")]
    with WritingRollManager("w_{seq}.events", SizeRollChecker(roll_size_bytes=100_000),
                            str(tmp_path)) as writer:
        writer.write_many(iter(data))
        writer.write_many([])
    got = read_dir(tmp_path)
    assert got == data and type(got[-2][1]) is bytes
    assert all(os.path.getsize(p) >= 100_000 for p in writer.sealed[:-1])


class Frozen(Mapping):
    """A mapping that is not a dict."""

    def __init__(self, data):
        self._data = dict(data)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self):
        return len(self._data)


def test_write_many_takes_what_write_takes(tmp_path):
    class Sub(dict):
        pass

    data = [(Sub(a="1"), "sub"), (Frozen({"b": "2"}), bytearray(b"ba")), ({"c": "ü"}, "ñ" * 3)]
    with WritingRollManager("t.events", None, str(tmp_path)) as writer:
        writer.write_many(data)
    assert read_dir(tmp_path) == [({"a": "1"}, "sub"), ({"b": "2"}, b"ba"), ({"c": "ü"}, "ñññ")]


@pytest.mark.parametrize("bad, error", [
    (({"k": 1}, "x"), TypeError),
    (({2: "v"}, "x"), TypeError),
    ((["not", "a", "dict"], "x"), TypeError),
    (({"k": "v"}, 3.5), TypeError),
    (({"k": "v"}, "lone \ud800"), UnicodeEncodeError),
    (({"k": "v" * 5000}, "x"), RecordTooLarge),
    (({"k": "v"}, "x", "three"), ValueError),
], ids=["value", "key", "metadata", "payload", "surrogate", "too-large", "not-a-pair"])
def test_write_many_stops_at_a_refused_record(tmp_path, bad, error):
    data = records(700)
    with WritingRollManager("s.events", None, str(tmp_path), max_record_bytes=4000) as writer:
        with pytest.raises(error):
            writer.write_many([*data[:600], bad, *data[600:]])
        writer.write(*data[600])
    assert read_dir(tmp_path) == data[:601]


def test_write_many_on_a_closed_writer_raises_and_writes_nothing(tmp_path):
    writer = WritingRollManager("c.events", None, str(tmp_path))
    writer.write_many(records(10))
    writer.close()
    with pytest.raises(ShoeboxError, match="closed"):
        writer.write_many(records(10, start=10))
    assert read_dir(tmp_path) == records(10)


# -- threads ---------------------------------------------------------------------------------------
def test_writes_racing_close_are_either_written_or_refused(tmp_path):
    """Each write() that returned is in the archive exactly once; once close() has run, write()
    raises and its record is nowhere."""
    writer = WritingRollManager("x_{seq}.events", CountRollChecker(roll_records=997),
                                str(tmp_path), flush_interval=0.01)
    accepted: dict[str, list[int]] = collections.defaultdict(list)
    start = threading.Barrier(5)

    def work(name: str) -> None:
        start.wait()
        i = 0
        while True:
            try:
                writer.write({"t": name, "i": str(i)}, "x" * (i % 300))
            except ShoeboxError:
                return
            accepted[name].append(i)
            i += 1

    threads = [threading.Thread(target=work, args=(str(n),)) for n in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(0.5)
    writer.close()
    for thread in threads:
        thread.join(10)
    got = collections.defaultdict(list)
    for metadata, _payload in read_dir(tmp_path):
        got[metadata["t"]].append(int(metadata["i"]))
    assert dict(got) == dict(accepted)
    assert sum(map(len, got.values())) > 1000


def test_a_record_that_slips_in_while_close_runs_is_refused_not_lost(tmp_path):
    """White-box: the interleaving the race test above can only hit by chance. A write() that
    appended its record after close() moved the waiting ones finds the writer closed and takes
    the record back; one whose record close() did write returns normally."""
    writer = WritingRollManager("w.events", None, str(tmp_path))
    writer.write({"n": "1"}, "first")
    early = _intake.new_pack()(({"n": "2"}, "written by close"))
    writer._inbox.append(early)  # appended before close(): close() writes it
    writer.close()
    late = _intake.new_pack()(({"n": "3"}, "after close"))
    writer._inbox.append(late)  # appended after close() moved the inbox
    assert writer._batch == 0 and writer._big == 0  # so its write() goes on to _drain()
    writer._drain(early)  # already written: nothing to do
    with pytest.raises(ShoeboxError, match="closed"):
        writer._drain(late)
    assert writer._inbox == []
    assert read_dir(tmp_path) == [({"n": "1"}, "first"), ({"n": "2"}, "written by close")]
