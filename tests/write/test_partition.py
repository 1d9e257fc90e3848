"""Write-side partitioning (``partition_by``): one active archive per partition value, a bounded
number open, true object names, reading and recovery across partitions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from shoebox_core.config.pipeline import load_pipeline
from shoebox_core.errors import ConfigError
from shoebox_core.read.inspection import find_archives
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.ship.transfer import Transfer
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.partition import PartitionedWriter

TEMPLATE = "ev_%Y%m%dT%H%M%S_{seq}.events"


def _types(path: str) -> set[str]:
    return {metadata["event_type"] for metadata, _ in read_archive(path)}


def test_every_archive_holds_one_partition_and_reading_gets_all(tmp_path: Path) -> None:
    writer = WritingRollManager(TEMPLATE, CountRollChecker(roll_records=40), str(tmp_path),
                                partition_by=["event_type"])
    assert isinstance(writer, PartitionedWriter)
    sent = [({"event_type": f"t{i % 3}", "i": str(i)}, f"p{i}") for i in range(300)]
    for metadata, payload in sent[:150]:
        writer.write(metadata, payload)
    writer.write_many(sent[150:])
    writer.close()
    files = sorted(os.listdir(tmp_path))
    assert len(files) == len(set(files)) == len(writer.sealed) == 9  # 100 per type, 40 a file
    assert all(len(_types(str(tmp_path / name))) == 1 for name in files)
    with ReadingRollManager("ev_*.events", str(tmp_path)) as reader:
        got = list(reader)
    assert sorted(got, key=lambda r: int(r[0]["i"])) == sent
    for kind in ("t0", "t1", "t2"):  # each partition in its own write order
        assert [p for m, p in got if m["event_type"] == kind] == \
            [p for m, p in sent if m["event_type"] == kind]


def test_open_partitions_are_capped_least_recently_written_sealed_first(tmp_path: Path) -> None:
    writer = WritingRollManager(TEMPLATE, None, str(tmp_path), partition_by=["event_type"],
                                max_partitions=2)
    writer.write({"event_type": "a"}, "1")
    writer.write({"event_type": "b"}, "2")
    writer.write({"event_type": "a"}, "3")  # b is now the least recently written
    assert writer.sealed == []
    writer.write({"event_type": "c"}, "4")
    assert [_types(name) for name in writer.sealed] == [{"b"}]
    assert writer.open_partitions == [("a",), ("c",)]
    writer.write({"event_type": "b"}, "5")  # a new archive for b; a goes
    assert [_types(name) for name in writer.sealed] == [{"b"}, {"a"}]
    writer.close()
    assert sorted(Counter(frozenset(_types(n)) for n in writer.sealed).values()) == [1, 1, 2]
    assert len(writer.sealed) == len(set(writer.sealed)) == 4


def test_time_rolls_fire_in_every_partition(tmp_path: Path, fake_clock) -> None:
    from shoebox_timecheck import TimeRollChecker

    writer = WritingRollManager(TEMPLATE, TimeRollChecker(roll_minutes=1, clock=fake_clock),
                                str(tmp_path), clock=fake_clock, partition_by=["event_type"])
    writer.write({"event_type": "a"}, "1")
    writer.write({"event_type": "b"}, "2")
    fake_clock.advance(61)
    writer.tick()
    assert sorted(_types(name).pop() for name in writer.sealed) == ["a", "b"]
    writer.close()


def test_object_names_made_from_the_first_record_are_true(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    upload = Transfer(url=str(remote), template="{event_type}/{name}", remove_local=True)
    with WritingRollManager(TEMPLATE, CountRollChecker(roll_records=25), str(tmp_path / "spool"),
                            upload, partition_by=["event_type"]) as writer:
        for i in range(200):
            writer.write({"event_type": f"compute.{('create', 'delete', 'resize')[i % 3]}"},
                         str(i))
    shipped = list(remote.rglob("*.events"))
    assert sum(sum(1 for _ in read_archive(str(p))) for p in shipped) == 200
    for path in shipped:
        assert _types(str(path)) == {path.parent.name}


def test_recovery_works_across_partitions(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""\
        import os, signal
        from shoebox_core.write.manager import WritingRollManager
        w = WritingRollManager({TEMPLATE!r}, None, {str(tmp_path)!r}, partition_by=["k"])
        for i in range(30):
            w.write({{"k": str(i % 3)}}, str(i))
        w.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    killed = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert sum(name.endswith(".inprogress") for name in os.listdir(tmp_path)) == 3
    writer = WritingRollManager(TEMPLATE, None, str(tmp_path), partition_by=["k"])
    writer.write({"k": "0"}, "after")
    writer.close()
    assert len([r for r in writer.recovered if r.sealed]) == 3
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".inprogress")]
    records = [r for s in find_archives(["ev_*.events"], str(tmp_path)) for r in read_archive(s)]
    assert sorted(int(p) for _, p in records if p != "after") == list(range(30))


def test_partition_by_from_a_config_and_bad_values(tmp_path: Path) -> None:
    base = {"directory": str(tmp_path), "template": TEMPLATE, "roll": "never"}
    pipeline = load_pipeline({**base, "writer": {"partition_by": ["event_type"],
                                                 "max_partitions": 4}})
    with pipeline.open_writer() as writer:
        assert isinstance(writer, PartitionedWriter) and writer.max_partitions == 4
        writer.write({"event_type": "x"}, "1")
    with pytest.raises(ConfigError, match=r"<dict>: \[writer\] partition_by must be"):
        load_pipeline({**base, "writer": {"partition_by": [1]}})  # as config check loads it
    with pytest.raises(ConfigError, match="max_partitions must be"):
        WritingRollManager(TEMPLATE, None, str(tmp_path), partition_by=["a"], max_partitions=0)
