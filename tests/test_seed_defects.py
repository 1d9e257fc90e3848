"""One test per known defect of stacktach-shoebox (DESIGN.md, "Lineage"): none may come back."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write.checkers import CountRollChecker, RollChecker, SizeRollChecker
from shoebox_core.write.manager import WritingRollManager


def recs(n, tag="r"):
    return [({"tag": tag, "i": str(i)}, f"{tag} {i}") for i in range(n)]


def test_a_second_roll_inside_the_templates_time_resolution_keeps_the_previous_file(
    tmp_path, fake_clock
):
    """Defect: a second roll inside the template's time resolution truncated the previous file.

    The seed opened the next file with mode "wb" under the same name (``%Y%m%d%H%M%S``, two rolls
    in one second), wiping the file it had just closed.
    """
    with WritingRollManager("events_%Y%m%d%H%M%S.events", CountRollChecker(roll_records=2),
                            str(tmp_path), clock=fake_clock) as writer:
        writer.write_many(recs(6))  # three rolls, all in the same (fake) second
    # A restart in the same second must not overwrite either.
    with WritingRollManager("events_%Y%m%d%H%M%S.events", None, str(tmp_path),
                            clock=fake_clock) as again:
        again.write_many(recs(2, tag="restart"))
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 4 and len(set(names)) == 4
    assert [list(read_archive(p)) for p in writer.sealed + again.sealed] == [
        recs(6)[0:2], recs(6)[2:4], recs(6)[4:6], recs(2, tag="restart")
    ]


def test_no_empty_archive_is_left_after_a_roll(tmp_path, fake_clock):
    """Defect: an empty archive left after a roll.

    The seed opened the next file as soon as it rolled, so the last roll before close (or a
    writer that stopped after a roll) left a file with no record in it.
    """
    writer = WritingRollManager("e_{seq}.events", CountRollChecker(roll_records=3),
                                str(tmp_path), clock=fake_clock)
    writer.write_many(recs(6))  # the 6th write rolls: nothing may be open after it
    assert sorted(os.listdir(tmp_path)) == ["e_000000.events", "e_000001.events"]
    fake_clock.advance(3600)
    writer.tick()
    writer.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["e_000000.events", "e_000001.events"]
    assert all(list(read_archive(str(tmp_path / n))) for n in names)
    # Nor from a writer that never wrote.
    WritingRollManager("never_{seq}.events", SizeRollChecker(roll_size_mb=1), str(tmp_path)).close()
    assert sorted(os.listdir(tmp_path)) == names


def test_truncated_tails_and_flipped_bytes_do_not_pass_silently(tmp_path):
    """Defect: truncated tails and flipped bytes passed silently.

    The seed had no checksum and no end marker: a file cut between two records read as a shorter
    good file, and a changed payload byte was returned as data.
    """
    with WritingRollManager("d.events", None, str(tmp_path), block_records=2) as writer:
        writer.write_many(recs(6))
    path = tmp_path / "d.events"
    data = path.read_bytes()
    cut = tmp_path / "cut.events"
    cut.write_bytes(data[: len(data) - 60])  # the end marker is gone: a clean-looking tail
    with pytest.raises(TruncatedArchive) as info:
        list(read_archive(str(cut)))
    assert info.value.path == str(cut) and info.value.offset is not None
    flipped = bytearray(data)
    flipped[data.index(b"r 3")] ^= 0x01  # "r 3" -> "s 3" inside a payload
    bad = tmp_path / "bad.events"
    bad.write_bytes(flipped)
    returned = []
    with pytest.raises(CorruptArchive, match="checksum") as info:
        for record in read_archive(str(bad)):
            returned.append(record)
    assert info.value.path == str(bad)
    assert returned == recs(6)[:2]  # only the blocks before the damage, never the changed one


def test_time_rolls_fire_without_a_write(tmp_path):
    """Defect: time rolls only on write.

    The seed asked its TimeRollChecker only inside write(): a quiet hour left the file open (and
    unsealed, so not shipped) until the next record came. Here the writer's own timer rolls it.
    """

    class AfterSeconds(RollChecker):
        def start(self, archive):
            self.started = time.monotonic()

        def check(self, archive):
            return time.monotonic() - self.started >= 0.3

        def seconds_left(self, archive):
            return 0.3 - (time.monotonic() - self.started)

    with WritingRollManager("t_{seq}.events", AfterSeconds(), str(tmp_path)) as writer:
        writer.write({}, "the only record")
        deadline = time.monotonic() + 2.5
        while not writer.sealed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.listdir(tmp_path) == ["t_000000.events"], "not rolled without a write"
    assert list(read_archive(str(tmp_path / "t_000000.events"))) == [({}, "the only record")]


def test_a_wildcard_is_matched_against_names_not_the_joined_path(tmp_path):
    """Defect: a wildcard matched against the joined path.

    The seed globbed ``os.path.join(directory, pattern)``: wildcard characters in the directory
    name matched other directories (``data[1]`` matched ``data1``, ``logs*`` matched
    ``logs_old``), reading the wrong files or none at all.
    """
    for name, tag in [("data[1]", "right"), ("data1", "wrong"), ("logs*", "right2"),
                      ("logs_old", "wrong2")]:
        directory = tmp_path / name
        directory.mkdir()
        with WritingRollManager("a_{seq}.events", None, str(directory)) as writer:
            writer.write_many(recs(2, tag=tag))
    assert list(ReadingRollManager("a_*.events", str(tmp_path / "data[1]"))) == recs(2, "right")
    assert list(ReadingRollManager("a_*.events", str(tmp_path / "logs*"))) == recs(2, "right2")
    # And ``*`` in the pattern stays inside the directory.
    assert list(ReadingRollManager("*.events", str(Path(tmp_path)))) == []
