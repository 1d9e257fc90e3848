"""Byte-range splits of one archive: every record exactly once, in order, at any cut points.

The partitions are read directly (:func:`shoebox_dask.read_part`), without a scheduler, so that
thousands of cut-point sets can be tried; test_read.py does the same through Dask workers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dask_testdata import make_records, write_archive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.roll_manager import ReadingRollManager
from shoebox_dask import read_part
from shoebox_dask._format import Source, archive_sync
from shoebox_dask._plan import Part, plan_parts


def source_of(path: Path) -> Source:
    return Source(str(path), os.path.getsize(path))


def block_starts(path: Path) -> list[int]:
    """Where each block (END included) starts: every sync marker after the file header."""
    sync, header_len = archive_sync(source_of(path))
    data = path.read_bytes()
    starts, at = [], data.find(sync, header_len)
    while at >= 0:
        starts.append(at)
        at = data.find(sync, at + 1)
    return starts


def read_cut(path: Path, cuts: list[int], lenient: bool = False) -> tuple[list, list]:
    """Read ``path`` as the partitions between ``cuts``; return the records and the damage."""
    source = source_of(path)
    size = source.size
    assert size is not None
    edges = [0, *sorted(set(c for c in cuts if 0 < c < size)), size]
    records, damage = [], []
    for start, end in zip(edges, edges[1:]):
        got, found = read_part(Part(source, start, end), lenient)
        records.extend(got)
        damage.extend(found)
    return records, damage


def core_read(path: Path, lenient: bool = False) -> tuple[list, list]:
    """The core's own reader on the whole file: the oracle."""
    reader = ReadingRollManager(str(path), lenient=lenient)
    with reader:
        records = list(reader)
    return records, reader.damage


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """2,000 records in ~80 small blocks: cut points land everywhere."""
    records = make_records(2_000, seed=7)
    path = write_archive(tmp_path_factory.mktemp("small"), "small.events", records,
                         block_records=25)
    return path, records


def test_block_boundaries_and_their_neighbours(small: tuple[Path, list]) -> None:
    path, records = small
    starts = block_starts(path)
    assert len(starts) > 50
    sync, header_len = archive_sync(source_of(path))
    for b in [header_len, *starts[:3], *starts[len(starts) // 2:][:3], *starts[-3:]]:
        for cuts in ([b - 1], [b], [b + 1], [b - 1, b], [b, b + 1], [b - 1, b, b + 1],
                     [b - 16, b + 16], [b + 39, b + 40, b + 41]):
            got, damage = read_cut(path, cuts)
            assert got == records, (b, cuts)
            assert damage == []


def test_a_cut_at_every_block_and_inside_the_file_header(small: tuple[Path, list]) -> None:
    path, records = small
    starts = block_starts(path)
    assert read_cut(path, starts)[0] == records
    assert read_cut(path, [s + 1 for s in starts])[0] == records
    assert read_cut(path, list(range(1, 80)))[0] == records  # tiny ranges over the header


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_cut_points_read_every_record_once_in_order(
    small: tuple[Path, list], data: st.DataObject
) -> None:
    path, records = small
    size = path.stat().st_size
    cuts = data.draw(st.lists(st.integers(1, size - 1), max_size=40))
    got, damage = read_cut(path, cuts)
    assert got == records
    assert damage == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocksize=st.integers(2_000, 200_000))
def test_any_blocksize_plans_partitions_that_read_every_record_once(
    small: tuple[Path, list], blocksize: int
) -> None:
    path, records = small
    parts = plan_parts([source_of(path)], blocksize)
    got = [r for p in parts for r in read_part(p)[0]]
    assert got == records
    assert len(parts) == max(1, -(-path.stat().st_size // blocksize))


def test_per_block_zstd_archives_split_too(tmp_path: Path) -> None:
    records = make_records(3_000, seed=3)
    path = write_archive(tmp_path, "z.events", records, block_records=40, compression="zstd")
    for blocksize in (997, 4096, 20_000):
        parts = plan_parts([source_of(path)], blocksize)
        assert len(parts) > 2
        assert [r for p in parts for r in read_part(p)[0]] == records


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture()
def damaged(tmp_path: Path, small: tuple[Path, list]) -> tuple[Path, list[int]]:
    """A copy of ``small`` with a body byte flipped in one block, a header byte in another and
    a sync marker byte in a third."""
    path = tmp_path / "damaged.events"
    path.write_bytes(small[0].read_bytes())
    starts = block_starts(path)
    flip(path, starts[10] + 100)  # body checksum
    flip(path, starts[30] + 20)  # header checksum
    flip(path, starts[50] + 3)  # the sync marker itself
    return path, starts


def test_strict_split_read_raises_naming_the_file_and_the_first_bad_block(
    damaged: tuple[Path, list[int]],
) -> None:
    path, starts = damaged
    for cuts in ([], [starts[10]], [starts[10] + 1], [starts[5], starts[11]]):
        with pytest.raises(CorruptArchive) as caught:
            read_cut(path, cuts)
        assert caught.value.path == str(path)
        assert caught.value.offset == starts[10]
        assert f"{path} at byte {starts[10]}" in str(caught.value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_lenient_split_reads_equal_the_core_reader_records_and_damage(
    damaged: tuple[Path, list[int]], data: st.DataObject
) -> None:
    path, starts = damaged
    expected, expected_damage = core_read(path, lenient=True)
    assert 0 < len(expected) < 2_000 and len(expected_damage) == 3
    near = st.sampled_from(starts).flatmap(lambda b: st.integers(b - 41, b + 41))
    anywhere = st.integers(1, path.stat().st_size - 1)
    cuts = data.draw(st.lists(st.one_of(near, anywhere), max_size=30))
    got, damage = read_cut(path, cuts, lenient=True)
    assert got == expected
    assert [(d.offset, d.skipped_bytes) for d in damage] == [
        (d.offset, d.skipped_bytes) for d in expected_damage
    ]


def test_truncated_archive_strict_and_lenient(tmp_path: Path, small: tuple[Path, list]) -> None:
    path = tmp_path / "cut.events"
    data = small[0].read_bytes()
    starts = block_starts(small[0])
    for cut_at in (starts[40] + 500, starts[40], len(data) - 1):
        path.write_bytes(data[:cut_at])
        expected, expected_damage = core_read(path, lenient=True)
        for cuts in ([], [starts[20]], [starts[39] + 7, starts[40] + 3], list(starts[::7])):
            with pytest.raises(TruncatedArchive):
                read_cut(path, cuts)
            got, damage = read_cut(path, cuts, lenient=True)
            assert got == expected
            assert [(d.offset, d.reason) for d in damage] == [
                (d.offset, d.reason) for d in expected_damage
            ]


def test_data_after_the_end_marker_is_damage(tmp_path: Path, small: tuple[Path, list]) -> None:
    path = tmp_path / "trailing.events"
    path.write_bytes(small[0].read_bytes() + b"junk")
    starts = block_starts(path)
    with pytest.raises(CorruptArchive):
        read_cut(path, [starts[60]])
    with pytest.raises(CorruptArchive):
        read_cut(path, [])


def test_a_big_legacy_or_compressed_file_is_read_once_by_its_first_range(
    tmp_path: Path, small: tuple[Path, list]
) -> None:
    import zstandard

    path = tmp_path / "misnamed.events"  # zstd data under a plain name: found by its magic
    path.write_bytes(zstandard.ZstdCompressor().compress(small[0].read_bytes()))
    parts = plan_parts([source_of(path)], 1000)
    assert len(parts) > 3
    assert [r for p in parts for r in read_part(p)[0]] == small[1]
