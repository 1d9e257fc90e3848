"""Archives as files: what ``shoebox ls`` says of each, what ``shoebox verify`` finds."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
import zstandard

from shoebox_core.clock import FakeClock
from shoebox_core.read.inspection import describe_archive, find_archives, verify_archive
from shoebox_core.read.sources import Source
from shoebox_core.write.manager import WritingRollManager
from tests.format.legacy_v1_writer import pack_v1

START = 1_700_000_000.0


def source(path: Path) -> Source:
    return Source(str(path), path.stat().st_size)


def sealed(tmp_path: Path, records: int = 100, **kwargs) -> Path:
    clock = FakeClock(start=START)
    with WritingRollManager("a_{seq}.events", None, tmp_path, clock=clock, block_records=10,
                            background=False, **kwargs) as writer:
        for i in range(records):
            writer.write({"i": str(i)}, f"payload {i:04d}")
        clock.advance(30)
    return Path(writer.sealed[0])


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_sealed_archive(tmp_path: Path, compression: str) -> None:
    path = sealed(tmp_path, compression=compression)
    info = describe_archive(source(path))
    assert (info.state, info.records, info.codec, info.compression) == (
        "sealed", 100, compression, None
    )
    assert (info.created, info.sealed) == (START, START + 30)
    assert info.size == path.stat().st_size and not info.damaged and info.problem is None


@pytest.mark.parametrize(("suffix", "compress"), [
    (".gz", gzip.compress),
    (".zst", lambda data: zstandard.ZstdCompressor().compress(data)),
])
def test_a_compressed_archive_is_walked_through(tmp_path: Path, suffix, compress) -> None:
    path = sealed(tmp_path)
    packed = path.with_name(path.name + suffix)
    packed.write_bytes(compress(path.read_bytes()))
    info = describe_archive(source(packed))
    assert (info.state, info.records, info.compression) == (
        "sealed", 100, "gzip" if suffix == ".gz" else "zstd"
    )
    assert info.sealed == START + 30


def test_an_archive_being_written(tmp_path: Path) -> None:
    writer = WritingRollManager("a_{seq}.events", None, tmp_path, block_records=10,
                                background=False, flush_interval=None)
    for i in range(25):
        writer.write({}, str(i))
    writer.flush()
    (path,) = tmp_path.glob("*.inprogress")
    info = describe_archive(source(path))
    assert (info.state, info.records, info.sealed, info.in_progress) == (
        "in progress", 25, None, True
    )
    verdict = verify_archive(source(path))
    assert verdict.ok and verdict.records == 25
    writer.close()


def test_a_truncated_archive(tmp_path: Path) -> None:
    path = sealed(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    info = describe_archive(source(path))
    assert info.state == "truncated" and info.damaged and info.records == 90
    assert "file ends inside the block at byte" in (info.problem or "")
    verdict = verify_archive(source(path))
    assert not verdict.ok and verdict.records == 90
    assert verdict.damage[-1].reason.startswith("file ends")


def test_damage_is_found_with_its_offset(tmp_path: Path, layout) -> None:
    path = sealed(tmp_path)
    blocks = layout(path)
    third = blocks[2]
    data = bytearray(path.read_bytes())
    data[third["end"] - 3] ^= 0xFF  # a byte of the third block's body
    path.write_bytes(bytes(data))
    assert describe_archive(source(path)).state == "sealed"  # headers only: ls cannot tell
    verdict = verify_archive(source(path))
    assert [(d.offset, d.reason) for d in verdict.damage] == [
        (third["offset"], "block checksum mismatch")
    ]
    assert verdict.records == 90


def test_a_damaged_block_header_and_end_marker(tmp_path: Path, layout) -> None:
    path = sealed(tmp_path)
    blocks = layout(path)
    data = bytearray(path.read_bytes())
    data[blocks[1]["offset"] + 20] ^= 0xFF
    data[blocks[-1]["offset"] + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    info = describe_archive(source(path))
    assert info.state == "damaged" and info.records == 10
    assert info.problem == f"bad block header at byte {blocks[1]['offset']}"


def test_legacy_empty_and_foreign_files(tmp_path: Path) -> None:
    legacy = tmp_path / "old.events"
    legacy.write_bytes(b"".join(pack_v1({"k": str(i)}, f"p{i}") for i in range(7)))
    empty = tmp_path / "empty.events"
    empty.write_bytes(b"")
    foreign = tmp_path / "foreign.events"
    foreign.write_bytes(b"hello, world\n")
    assert [(i.state, i.format, i.records) for i in map(describe_archive, map(
        source, (legacy, empty, foreign)
    ))] == [("legacy", "v1", 7), ("unreadable", "?", None), ("unreadable", "?", None)]
    assert verify_archive(source(legacy)).ok
    # FORMAT.md: no writer leaves a 0-byte file; it is one cut short (as an empty .gz is).
    assert not verify_archive(source(empty)).ok
    assert "truncated" in describe_archive(source(empty)).problem or "0 bytes" in (
        describe_archive(source(empty)).problem)
    assert not verify_archive(source(foreign)).ok


def test_find_archives_in_write_order_once_each(tmp_path: Path) -> None:
    first = sealed(tmp_path / "x")
    second = sealed(tmp_path / "x")  # later seq, same creation time
    shutil.copy(first, tmp_path / "x" / "z_copy.events")
    found = find_archives(["x/a_*.events", str(first), "x/*.events"], str(tmp_path))
    names = [os.path.basename(s.path) for s in found]
    # By creation time, then the writer's file number, then name: the copy has the first's header.
    assert names == [first.name, "z_copy.events", second.name]
