"""ReadingRollManager: finding archives, write order, compression, fsspec, edge files, legacy v1."""

from __future__ import annotations

import gzip
import os
import shutil
import uuid
from pathlib import Path

import fsspec
import pytest
import zstandard

from shoebox_core.errors import CorruptArchive
from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import NoMoreFiles, ReadingRollManager, read_archive
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager


class Reports(list):
    """A ``report`` callable for read_archive that keeps ``(offset, skipped, reason)``."""

    def __call__(self, offset, skipped, reason):
        self.append((offset, skipped, reason))


def recs(n: int, start: int = 0, tag: str = "r"):
    return [({"tag": tag, "i": str(i)}, f"{tag} payload {i}") for i in range(start, start + n)]


def write(directory: Path, records, template: str = "test_{seq}.events", per_file: int = 3,
          **options) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    with WritingRollManager(template, CountRollChecker(roll_records=per_file), str(directory),
                            **options) as writer:
        writer.write_many(records)
    return writer.sealed


def read_all(pattern: str, directory: str | Path = ".", **options):
    return list(ReadingRollManager(pattern, str(directory), **options))


def open_fds_to(path_prefix: str) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(path_prefix):
            found.append(target)
    return found


# -- matching --------------------------------------------------------------------------------
def test_pattern_matches_names_inside_the_directory_not_the_joined_path(tmp_path):
    literal = tmp_path / "logs*"  # a directory whose name is itself a wildcard pattern
    write(literal, recs(4, tag="mine"))
    write(tmp_path / "logs_other", recs(4, tag="other"))
    assert read_all("test_*.events", literal) == recs(4, tag="mine")


@pytest.mark.parametrize("dirname", ["dir[1]", "a?b", "test_x.events", "with space"])
def test_a_directory_named_like_a_pattern_does_not_confuse_the_reader(tmp_path, dirname):
    directory = tmp_path / dirname
    write(directory, recs(5, tag="in"))
    write(tmp_path / "dir1", recs(2, tag="decoy"))
    write(tmp_path / "axb", recs(2, tag="decoy"))
    # A subdirectory whose name matches the pattern is not a file to read.
    write(directory / "test_sub.events", recs(2, tag="nested"))
    assert read_all("test_*.events", directory) == recs(5, tag="in")


def test_star_does_not_cross_into_subdirectories(tmp_path):
    write(tmp_path, recs(2, tag="top"), template="a_{seq}.events")
    write(tmp_path / "a_sub", recs(2, tag="sub"), template="x_{seq}.events")
    assert read_all("a_*.events", tmp_path) == recs(2, tag="top")


def test_full_path_patterns(tmp_path, monkeypatch):
    write(tmp_path / "sub", recs(7))
    expected = recs(7)
    assert read_all(str(tmp_path / "sub" / "test_*.events")) == expected
    assert read_all("sub/test_*.events", tmp_path) == expected
    monkeypatch.chdir(tmp_path)
    assert read_all("sub/test_*.events") == expected
    assert read_all(str(tmp_path / "sub" / "test_*.events"), "/somewhere/else") == expected


def test_a_wildcard_in_the_directory_part_of_a_full_path_pattern(tmp_path, fake_clock):
    write(tmp_path / "d1", recs(3, tag="a"), clock=fake_clock)
    fake_clock.advance(1)
    write(tmp_path / "d2", recs(3, tag="b"), clock=fake_clock)
    write(tmp_path / "other", recs(3, tag="c"), clock=fake_clock)
    assert read_all(str(tmp_path / "d*" / "test_*.events")) == recs(3, tag="a") + recs(3, tag="b")


def test_reading_from_an_fsspec_memory_url(tmp_path, recorder):
    sealed = write(tmp_path, recs(10), per_file=4)
    bucket = f"shoebox-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        for path in sealed:
            fs.pipe(f"/{bucket}/archives/{os.path.basename(path)}", Path(path).read_bytes())
        fs.pipe(f"/{bucket}/archives/unrelated.txt", b"not an archive")
        # A compressed copy in the bucket is read transparently too.
        extra = write(tmp_path / "more", recs(2, start=10), template="test_x{seq}.events")
        fs.pipe(f"/{bucket}/archives/{os.path.basename(extra[0])}.gz",
                gzip.compress(Path(extra[0]).read_bytes()))
        url = f"memory://{bucket}/archives/test_*.events"
        reader = ReadingRollManager(url, archive_callback=recorder)
        assert list(reader) == recs(12)
        assert len(recorder.opened) == 4 and recorder.closed == recorder.opened
        assert read_all("test_*.events", f"memory://{bucket}/archives") == recs(12)
    finally:
        fs.rm(f"/{bucket}", recursive=True)


# -- order ---------------------------------------------------------------------------------------
def test_files_are_read_in_write_order_even_when_names_do_not_sort(tmp_path, fake_clock):
    """``%c`` names start with the weekday: Sunday's files sort after Monday's by name."""
    names = []
    with WritingRollManager("test_%c.events", CountRollChecker(roll_records=2), str(tmp_path),
                            clock=fake_clock) as writer:
        for i in range(8):
            writer.write({"i": str(i)}, f"p{i}")
            fake_clock.advance(0.75)
    names = [os.path.basename(p) for p in writer.sealed]
    assert names[0].startswith("test_Sun_Nov_12_23_59_5") and names[-1].startswith("test_Mon")
    assert sorted(names) != names
    assert read_all("test_*.events", tmp_path) == [({"i": str(i)}, f"p{i}") for i in range(8)]


def test_two_writers_of_the_same_template_are_read_in_write_order(tmp_path, fake_clock):
    """Restarts without {seq} in the same second: collision names, read in write order."""
    for run in range(3):
        with WritingRollManager("ev_%Y%m%d%H%M%S.events", CountRollChecker(roll_records=2),
                                str(tmp_path), clock=fake_clock) as writer:
            writer.write_many(recs(3, start=3 * run))
        fake_clock.advance(0.001)
    names = sorted(os.listdir(tmp_path))
    assert names == ["ev_20231112235958.events"] + [
        f"ev_20231112235958~{n:03d}.events" for n in range(1, 6)
    ]
    assert read_all("ev_*.events", tmp_path) == recs(9)


# -- compressed, empty and zero-record files ----------------------------------------------------
def test_gz_and_zst_files_are_read_transparently_and_twins_once(tmp_path, recorder):
    sealed = write(tmp_path, recs(12), per_file=3)
    first, second, third, _fourth = sealed
    with open(first, "rb") as src, gzip.open(first + ".gz", "wb") as dst:
        dst.write(src.read())
    os.unlink(first)
    with open(second, "rb") as src:
        Path(second + ".zst").write_bytes(zstandard.ZstdCompressor().compress(src.read()))
    os.unlink(second)
    # A crash between compressing and deleting leaves an original and its compressed twin.
    with open(third, "rb") as src, gzip.open(third + ".gz", "wb") as dst:
        dst.write(src.read())
    reader = ReadingRollManager("test_*.events", str(tmp_path), archive_callback=recorder)
    assert list(reader) == recs(12)
    assert [os.path.basename(p) for p in recorder.opened] == [
        "test_000000.events.gz", "test_000001.events.zst", "test_000002.events",
        "test_000003.events",
    ]


def test_empty_and_zero_record_files_in_the_middle_are_skipped(tmp_path, fake_clock):
    sealed = write(tmp_path, recs(2), per_file=2, template="test_a{seq}.events", clock=fake_clock)
    fake_clock.advance(10)
    write(tmp_path, recs(2, start=2), per_file=2, template="test_c{seq}.events", clock=fake_clock)
    (tmp_path / "test_b_empty.events").write_bytes(b"")
    sync = _v2.new_sync()
    created = int((fake_clock.time() - 5) * 1e9)
    zero = _v2.pack_file_header({"sync": sync, "created_ns": created, "seq": 0})
    zero += _v2.encode_end_block(sync, 0, {"sealed_ns": created, "blocks": 0})
    (tmp_path / "test_b_zero.events").write_bytes(zero)
    assert sealed
    assert read_all("test_*.events", tmp_path) == recs(4)
    assert list(read_archive(str(tmp_path / "test_b_zero.events"))) == []


def test_no_matching_files(tmp_path):
    reader = ReadingRollManager("nothing_*.events", str(tmp_path))
    with pytest.raises(NoMoreFiles):
        reader.read()
    assert read_all("x_*.events", tmp_path / "missing") == []


# -- the reading API -------------------------------------------------------------------------------
def test_read_after_the_end_keeps_raising_no_more_files(tmp_path):
    write(tmp_path, recs(4))
    reader = ReadingRollManager("test_*.events", str(tmp_path))
    got = []
    while True:
        try:
            got.append(reader.read())
        except NoMoreFiles:
            break
    assert got == recs(4)
    for _ in range(3):
        with pytest.raises(NoMoreFiles):
            reader.read()


def test_iterating(tmp_path):
    write(tmp_path, recs(10))
    reader = ReadingRollManager("test_*.events", str(tmp_path))
    first = reader.read()
    rest = [record for record in reader]
    assert [first, *rest] == recs(10)
    assert list(reader) == []
    assert [os.path.basename(s.path) for s in reader.files] == [
        f"test_{i:06d}.events" for i in range(4)
    ]


def test_context_manager_closes_the_current_file(tmp_path, recorder):
    write(tmp_path, recs(9))
    with ReadingRollManager("test_*.events", str(tmp_path), archive_callback=recorder) as reader:
        assert reader.read() == recs(1)[0]
        reader.read()
        reader.read()
        reader.read()  # now in the second file
        # The first file is closed once read; the others are still open from finding the write
        # order, to be read without opening them again.
        assert sorted(open_fds_to(str(tmp_path))) == [
            str(tmp_path / f"test_00000{i}.events") for i in (1, 2)
        ]
        assert recorder.active == {str(tmp_path / "test_000000.events"): False,
                                   str(tmp_path / "test_000001.events"): True}
    assert open_fds_to(str(tmp_path)) == []
    assert recorder.events[-1] == ("close", str(tmp_path / "test_000001.events"))
    assert not any(recorder.active.values())
    with pytest.raises(NoMoreFiles):
        reader.read()


def test_in_progress_files_are_read_only_when_asked(tmp_path):
    writer = WritingRollManager("test_{seq}.events", CountRollChecker(roll_records=3),
                                str(tmp_path))
    writer.write_many(recs(5))
    writer.flush()
    try:
        assert read_all("test_*.events", tmp_path) == recs(3)
        assert read_all("test_*.events", tmp_path, include_in_progress=True,
                        lenient=True) == recs(5)
        # A file being written ends quietly at its last complete block (issue 10, item 18).
        assert read_all("test_*.events", tmp_path, include_in_progress=True) == recs(5)
    finally:
        writer.close()


# -- damage across files ------------------------------------------------------------------------
def test_strict_reading_names_the_damaged_file_and_offset(tmp_path, layout):
    sealed = write(tmp_path, recs(9))
    block = layout(sealed[1])[0]
    data = bytearray(Path(sealed[1]).read_bytes())
    data[block["end"] - 2] ^= 0x04
    Path(sealed[1]).write_bytes(data)
    reader = ReadingRollManager("test_*.events", str(tmp_path))
    got = []
    with pytest.raises(CorruptArchive) as info:
        for record in reader:
            got.append(record)
    assert got == recs(3)
    assert info.value.path == sealed[1] and info.value.offset == block["offset"]


@pytest.mark.parametrize("damage", ["flip-header", "truncate-header", "garbage", "v2-magic-only"])
def test_a_lenient_reader_skips_a_file_with_a_bad_header_and_goes_on(tmp_path, damage, recorder):
    """One bad file must not poison the files after it."""
    sealed = write(tmp_path, recs(9))
    data = bytearray(Path(sealed[1]).read_bytes())
    if damage == "flip-header":
        data[20] ^= 0x01
    elif damage == "truncate-header":
        data = data[:30]
    elif damage == "garbage":
        data = bytearray(b"this is not an archive at all" * 10)
    else:
        data = bytearray(_v2.MAGIC)
    Path(sealed[1]).write_bytes(data)
    with pytest.raises(CorruptArchive) as info:
        read_all("test_*.events", tmp_path)
    assert info.value.path == sealed[1] and info.value.offset is not None
    reader = ReadingRollManager("test_*.events", str(tmp_path), lenient=True,
                                archive_callback=recorder)
    assert list(reader) == recs(3) + recs(3, start=6)
    assert [d.path for d in reader.damage] == [sealed[1]]
    assert reader.damage[0].skipped_bytes == len(data)
    assert recorder.closed == recorder.opened


# -- legacy v1 -------------------------------------------------------------------------------
def test_reading_the_stacktach_shoebox_v1_files(shared_data, nova_records, recorder):
    legacy = shared_data / "legacy-v1"
    reader = ReadingRollManager("legacy_*.events", directory=str(legacy),
                                archive_callback=recorder)
    got = list(reader)
    assert len(got) == 1200
    assert got == nova_records[:1200]
    assert [os.path.basename(p) for p in recorder.opened] == sorted(os.listdir(legacy))


def test_a_mixed_directory_of_v1_and_v2_files(tmp_path, shared_data, nova_records):
    for path in sorted((shared_data / "legacy-v1").iterdir()):
        shutil.copy(path, tmp_path / path.name)
    write(tmp_path, nova_records[1200:1500], template="legacy_v2_{seq}.events", per_file=70)
    # ... and one legacy file compressed, as an operator would have done.
    oldest = sorted(tmp_path.glob("legacy_2026_*.events"))[1]
    with open(oldest, "rb") as src, gzip.open(str(oldest) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(oldest)
    assert read_all("legacy_*.events", tmp_path) == nova_records[:1500]


# -- damaged compressed files ---------------------------------------------------------------------
def _compress(codec: str, data: bytes) -> bytes:
    if codec == "gzip":
        return gzip.compress(data)
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("codec, suffix", [("gzip", ".gz"), ("zstd", ".zst")])
def test_a_cut_short_compressed_archive_is_reported_never_passed(tmp_path, codec, suffix):
    records = [({"i": str(i)}, f"{i} " * 200) for i in range(200)]
    (path,) = write(tmp_path / "src", records, per_file=1000, block_records=10)
    packed = _compress(codec, Path(path).read_bytes())
    target = tmp_path / f"cut.events{suffix}"
    for cut in sorted({1, 5, 12, len(packed) // 10, len(packed) // 2, len(packed) - 9,
                       len(packed) - 1}):
        target.write_bytes(packed[:cut])
        got = []
        with pytest.raises(CorruptArchive) as info:
            for record in read_archive(str(target)):
                got.append(record)
        assert info.value.path == str(target) and info.value.offset is not None, cut
        assert got == records[: len(got)], cut
        damage = Reports()
        lenient = list(read_archive(str(target), lenient=True, report=damage))
        assert lenient == records[: len(lenient)] and damage, cut


@pytest.mark.parametrize("codec, suffix", [("gzip", ".gz"), ("zstd", ".zst")])
def test_a_damaged_compressed_archive_is_reported(tmp_path, codec, suffix):
    records = [({"i": str(i)}, f"{i} " * 200) for i in range(200)]
    (path,) = write(tmp_path / "src", records, per_file=1000, block_records=10)
    packed = bytearray(_compress(codec, Path(path).read_bytes()))
    target = tmp_path / f"bad.events{suffix}"
    for where in (len(packed) // 3, len(packed) // 2, 2 * len(packed) // 3):
        damaged = bytearray(packed)
        damaged[where] ^= 0x55
        target.write_bytes(damaged)
        got = []
        with pytest.raises(CorruptArchive) as info:
            for record in read_archive(str(target)):
                got.append(record)
        assert info.value.path == str(target)
        assert got == records[: len(got)]
        lenient = list(read_archive(str(target), lenient=True))
        assert all(record in records for record in lenient)


def test_a_lenient_reader_goes_on_after_a_cut_short_compressed_file(tmp_path):
    sealed = write(tmp_path, recs(30), per_file=10, block_records=2)
    data = Path(sealed[1]).read_bytes()
    Path(sealed[1] + ".gz").write_bytes(gzip.compress(data)[: len(data) // 4])
    os.unlink(sealed[1])
    with pytest.raises(CorruptArchive):
        read_all("test_*.events", tmp_path)
    reader = ReadingRollManager("test_*.events", str(tmp_path), lenient=True)
    got = list(reader)
    assert got[:10] == recs(10) and got[-10:] == recs(10, start=20)
    assert all(record in recs(30) for record in got)
    assert [d.path for d in reader.damage] == [sealed[1] + ".gz"]
