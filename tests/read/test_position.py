"""Checkpoints (issue 14): ``reader.position`` names the last record returned by archive identity,
block and index; ``start_after=`` resumes right after it, whether the archive is still there,
compressed or gone. And (issue 10, item 18) a file being written ends quietly at its last
complete block, while a bad checksum in a complete block is still damage."""

from __future__ import annotations

import json
import os
from itertools import islice
from pathlib import Path

import pytest

from shoebox_core.errors import ConfigError, CorruptArchive
from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import NoMoreFiles, ReadingRollManager
from shoebox_core.read.position import Position, load_position, save_position
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager

from .test_follow import finish, record, start_writer


def archive_of(directory: Path, position: dict) -> Path:
    """The file the position points into, found by reading headers (not by its name)."""
    from shoebox_core.read.sources import find_sources, open_archive

    for source in find_sources("ev_*", str(directory)):
        with open_archive(source) as opened:
            if opened.identity == position["archive"]:
                return Path(source.path)
    raise AssertionError("no archive has the position's identity")


@pytest.fixture
def three_thousand(tmp_path: Path) -> Path:
    """3,000 records written by a writer in another process: a file every 300, blocks of 50."""
    finish(start_writer(tmp_path, 0, 3000, burst=1000))
    return tmp_path


def test_a_checkpoint_resumes_after_its_archive_was_compressed(three_thousand: Path) -> None:
    reader = ReadingRollManager("ev_*.events", str(three_thousand))
    assert [reader.read() for _ in range(1234)] == [record(i) for i in range(1234)]
    position = json.loads(json.dumps(reader.position))  # a small JSON value
    assert position["index"] > 0 and position["block"] > 0  # inside a block of 50
    reader.close()
    target = archive_of(three_thousand, position)
    ZstdCallback().on_close(str(target))
    assert not target.exists() and Path(f"{target}.zst").exists()
    resumed = ReadingRollManager("ev_*.events", str(three_thousand), start_after=position)
    assert resumed.read() == record(1234)  # the 1,235th record
    assert list(resumed) == [record(i) for i in range(1235, 3000)]
    assert resumed.gaps == []


def test_a_checkpoint_whose_archive_is_gone_resumes_with_the_next_one(
    three_thousand: Path,
) -> None:
    with ReadingRollManager("ev_*.events", str(three_thousand)) as reader:
        list(islice(reader, 1234))
        position = reader.position
    archive_of(three_thousand, position).unlink()  # shipped and deleted: 1200..1499 are gone
    resumed = ReadingRollManager("ev_*.events", str(three_thousand), start_after=position)
    assert list(resumed) == [record(i) for i in range(1500, 3000)]
    assert len(resumed.gaps) == 1 and "checkpoint" in resumed.gaps[0].reason


def test_the_position_follows_read_and_iteration_alike(three_thousand: Path) -> None:
    reader = ReadingRollManager("ev_*.events", str(three_thousand))
    assert reader.position is None
    got = [reader.read() for _ in range(3)]
    got += list(islice(reader, 60))  # into the next block, by iteration
    got.append(reader.read())
    position = reader.position
    reader.close()
    assert reader.position == position  # closing does not move it
    assert got == [record(i) for i in range(64)]
    again = ReadingRollManager("ev_*.events", str(three_thousand), start_after=position)
    assert again.read() == record(64)


def test_every_position_resumes_at_the_next_record(tmp_path: Path) -> None:
    """At block boundaries, file boundaries and inside blocks alike."""
    finish(start_writer(tmp_path, 0, 240, per_file=60, burst=1000))
    reader = ReadingRollManager("ev_*.events", str(tmp_path))
    for i in range(240):
        assert reader.read() == record(i)
        if i % 7 == 0 or i % 50 in (48, 49) or i % 60 == 59:
            again = ReadingRollManager("ev_*.events", str(tmp_path), start_after=reader.position)
            expected = [record(j) for j in range(i + 1, 240)]
            assert list(again) == expected, i


def test_a_lenient_reader_s_position_after_damage_resumes_exactly(tmp_path: Path) -> None:
    with WritingRollManager("ev_{seq}.events", CountRollChecker(roll_records=500), str(tmp_path),
                            block_records=20, background=False) as writer:
        writer.write_many([record(i) for i in range(500)])
    path = tmp_path / "ev_000000.events"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # a block in the first half
    path.write_bytes(data)
    reader = ReadingRollManager("ev_*.events", str(tmp_path), lenient=True)
    good = list(reader)
    assert len(good) == 480 and len(reader.damage) == 1
    for n in (100, 250, 300, 479):
        first = ReadingRollManager("ev_*.events", str(tmp_path), lenient=True)
        list(islice(first, n))
        again = ReadingRollManager("ev_*.events", str(tmp_path), lenient=True,
                                   start_after=first.position)
        assert list(again) == good[n:], n


def test_following_from_a_checkpoint(three_thousand: Path) -> None:
    with ReadingRollManager("ev_*.events", str(three_thousand)) as reader:
        list(islice(reader, 2990))
        position = reader.position
    with ReadingRollManager("ev_*.events", str(three_thousand), follow=True, poll_interval=0.02,
                            start_after=position) as follower:
        assert [follower.read(timeout=10) for _ in range(10)] == [
            record(i) for i in range(2990, 3000)
        ]
        finish(start_writer(three_thousand, 3000, 3100, compress=True))
        assert [follower.read(timeout=10) for _ in range(100)] == [
            record(i) for i in range(3000, 3100)
        ]
        with pytest.raises(NoMoreFiles):
            follower.read(timeout=0.2)


@pytest.mark.parametrize("bad, field", [
    ({"archive": 3}, "archive"),
    ("x", "JSON object"),
    ({"archive": "ab", "created_ns": 1, "seq": 0, "name": "n", "block": -1, "index": 0},
     "block"),
    ({"archive": "ab", "created_ns": 1, "seq": 0, "name": "n", "block": 1}, "index"),
])
def test_a_bad_position_is_refused_naming_the_field(tmp_path: Path, bad, field) -> None:
    with pytest.raises(ConfigError, match=field):
        ReadingRollManager("ev_*.events", str(tmp_path), start_after=bad)


def test_a_checkpoint_file_is_saved_atomically_and_loaded(tmp_path: Path) -> None:
    path = str(tmp_path / "pos.json")
    assert load_position(path) is None
    value = Position("ab" * 16, 5, 1, "ev_000001.events", 100, 3).to_json()
    save_position(path, value)
    assert load_position(path) == Position.from_json(value)
    assert os.listdir(tmp_path) == ["pos.json"]  # no temporary file left
    Path(path).write_text("{not json")
    with pytest.raises(ConfigError, match="pos.json"):
        load_position(path)


# -- a file being written (issue 10, item 18) ------------------------------------------------------
@pytest.fixture
def live(tmp_path: Path):
    """The in-progress file of a writer still open, holding 25 flushed records (3 blocks)."""
    writer = WritingRollManager("ev_{seq}.events", None, str(tmp_path), block_records=10,
                                flush_interval=None)
    writer.write_many([record(i) for i in range(25)])
    writer.flush()
    [path] = list(tmp_path.iterdir())
    yield path
    writer.close()


def test_a_file_being_written_ends_quietly_at_its_last_complete_block(live: Path) -> None:
    # a torn block at the tail (its header and part of its body), as a writer caught in the
    # middle of a write leaves it
    data = live.read_bytes()
    first_block = _v2.parse_file_header(data).length
    with open(live, "ab") as f:
        f.write(data[first_block : first_block + 60])
    for lenient in (False, True):
        reader = ReadingRollManager("ev_*.events", str(live.parent), include_in_progress=True,
                                    lenient=lenient)
        assert list(reader) == [record(i) for i in range(25)]
        assert reader.damage == []


def test_a_bad_checksum_in_a_complete_block_of_a_live_file_is_still_damage(live: Path) -> None:
    copy = live.parent / "copy" / live.name
    copy.parent.mkdir()
    data = bytearray(live.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(data)
    with pytest.raises(CorruptArchive, match="checksum"):
        list(ReadingRollManager("ev_*.events", str(copy.parent), include_in_progress=True))
    lenient = ReadingRollManager("ev_*.events", str(copy.parent), include_in_progress=True,
                                 lenient=True)
    assert len(list(lenient)) < 25 and len(lenient.damage) == 1


def test_a_position_in_a_legacy_v1_file_resumes_at_the_next_record(shared_data) -> None:
    """v1 files have no header: they are named by their name, the records counted."""
    legacy = str(shared_data / "legacy-v1")
    everything = list(ReadingRollManager("legacy_*.events", legacy))
    for n in (1, 299, 300, 301, 1199):
        reader = ReadingRollManager("legacy_*.events", legacy)
        list(islice(reader, n))
        position = reader.position
        assert position["archive"].startswith("name:")
        again = ReadingRollManager("legacy_*.events", legacy, start_after=position)
        assert list(again) == everything[n:], n
