"""read_archives on a LocalCluster with two worker processes: bags, dataframes, damage."""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from pathlib import Path

import dask
import pandas as pd
import pytest
from dask_testdata import FILES, PER_FILE, Dataset, canon, collect, make_records, write_archive

from shoebox_core.errors import CorruptArchive
from shoebox_core.roll_manager import ReadingRollManager
from shoebox_dask import read_archives

LEGACY = Path("/work/shared/data/legacy-v1")


def test_many_files_every_record_once_in_write_order_per_partition(
    many: Dataset, client: object
) -> None:
    bag = read_archives(str(many.directory / "*.events"))
    assert bag.npartitions == FILES
    assert bag.count().compute() == FILES * PER_FILE
    partitions = dask.compute(*bag.to_delayed())
    assert [list(p) for p in partitions] == many.records  # path order, write order inside


def test_one_large_file_split_over_the_workers(big: Dataset, client: object) -> None:
    bag = read_archives(big.files[0], blocksize=128 * 1024)
    assert bag.npartitions > 50
    got = collect(bag)
    assert got == big.records[0]  # exactly once, in order
    workers = client.run(lambda: 1)  # type: ignore[attr-defined]
    assert len(workers) == 2


def test_multiset_through_a_bag_pipeline(many: Dataset, client: object) -> None:
    bag = read_archives([str(f) for f in many.files[:5]], blocksize="64 KiB")
    assert bag.npartitions > 5
    assert canon(collect(bag)) == canon([r for recs in many.records[:5] for r in recs])
    by_type = dict(bag.map(lambda r: r[0]["event_type"]).frequencies().compute())
    expected = Counter(m["event_type"] for recs in many.records[:5] for m, _ in recs)
    assert by_type == dict(expected)


def test_dataframe_groupby_matches_a_plain_count(many: Dataset, client: object) -> None:
    df = read_archives(str(many.directory), as_dataframe=True, columns=["event_type", "host"])
    assert list(df.columns) == ["event_type", "host", "payload"]
    counts = df.groupby("event_type").size().compute()
    expected = Counter(m["event_type"] for m, _ in many.all_records)
    assert counts.to_dict() == dict(expected)
    hosts = df.groupby("host").size().compute().to_dict()
    assert hosts == dict(Counter(m["host"] for m, _ in many.all_records if "host" in m))
    assert int(df["host"].isna().sum().compute()) == sum(
        "host" not in m for m, _ in many.all_records
    )


def test_dataframe_values_nulls_payload_types_and_path_column(many: Dataset) -> None:
    df = read_archives(many.files[0], as_dataframe=True, columns=["seq", "note", "absent"],
                       include_path_column=True)
    frame = df.compute(scheduler="sync")
    records = many.records[0]
    assert list(frame["seq"]) == [m["seq"] for m, _ in records]
    assert frame["absent"].isna().all()
    assert [None if pd.isna(v) else v for v in frame["note"]] == [m.get("note") for m, _ in records]
    assert list(frame["payload"]) == [p for _, p in records]  # bytes stay bytes, text stays text
    assert {type(p) for p in frame["payload"]} == {str, bytes}
    assert set(frame["path"]) == {str(many.files[0])}
    assert str(frame["seq"].dtype) == "string"


def test_metadata_only_scan_leaves_the_payload_out(many: Dataset, client: object) -> None:
    df = read_archives(many.files[:3], as_dataframe=True, columns=["event_type"], payload=False)
    assert list(df.columns) == ["event_type"]
    assert len(df) == 3 * PER_FILE


def test_compressed_archives_are_read_whole(tmp_path: Path, client: object) -> None:
    from shoebox_core.ship.compress import GzipCallback, ZstdCallback

    expected = []
    for i, callback in enumerate([GzipCallback(), ZstdCallback(), None]):
        recs = make_records(800, seed=100 + i)
        expected.extend(recs)
        write_archive(tmp_path, f"c{i}.events", recs, archive_callback=callback)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0.events.gz", "c1.events.zst",
                                                          "c2.events"]
    bag = read_archives(str(tmp_path / "*.events"), blocksize=4096)
    assert collect(bag) == expected


def test_legacy_v1_archives(tmp_path: Path, client: object) -> None:
    with ReadingRollManager(str(LEGACY / "*.events")) as reader:
        expected = list(reader)
    assert len(expected) == 1200
    bag = read_archives(str(LEGACY / "*.events"), blocksize=100_000)  # v1: never split
    assert bag.npartitions > 4
    assert collect(bag) == expected
    gz = tmp_path / "legacy.events.gz"
    with open(sorted(LEGACY.iterdir())[0], "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert read_archives(str(gz)).count().compute() == sum(
        1 for _ in ReadingRollManager(str(gz))
    )


@pytest.fixture()
def corrupt(tmp_path: Path, many: Dataset) -> Path:
    """Three good archives and one with a flipped byte in its second block."""
    for f in many.files[:3]:
        shutil.copy(f, tmp_path / f.name)
    bad = tmp_path / "events_zz.events"
    data = bytearray(many.files[3].read_bytes())
    data[len(data) // 3] ^= 0x55
    bad.write_bytes(bytes(data))
    return bad


def test_strict_read_of_a_corrupt_archive_raises_with_its_name(
    corrupt: Path, client: object
) -> None:
    for blocksize in (None, 20_000):
        bag = read_archives(str(corrupt.parent / "*.events"), blocksize=blocksize)
        with pytest.raises(CorruptArchive) as caught:
            bag.count().compute()
        assert str(corrupt) in str(caught.value)
        assert " at byte " in str(caught.value)


def test_lenient_read_yields_only_good_records_and_reports_the_damage(
    corrupt: Path, many: Dataset, client: object
) -> None:
    reader = ReadingRollManager(str(corrupt), lenient=True)
    with reader:
        good_in_bad = list(reader)
    assert 0 < len(good_in_bad) < PER_FILE
    expected = [r for recs in many.records[:3] for r in recs] + good_in_bad
    for blocksize in (None, 20_000):
        bag, damage = read_archives(str(corrupt.parent / "*.events"), lenient=True,
                                    blocksize=blocksize, with_damage=True)
        records, found = dask.compute(bag.to_delayed(), damage)
        assert [r for part in records for r in part] == expected
        assert [(d.path, d.offset, d.skipped_bytes) for d in found] == [
            (d.path, d.offset, d.skipped_bytes) for d in reader.damage
        ]
    df, damage = read_archives(str(corrupt), lenient=True, as_dataframe=True, columns=["seq"],
                               with_damage=True)
    frame, found = dask.compute(df, damage)
    assert list(frame["seq"]) == [m["seq"] for m, _ in good_in_bad]
    assert len(found) == len(reader.damage) > 0


def test_lenient_read_of_a_file_with_a_broken_header_skips_it(
    corrupt: Path, many: Dataset, client: object
) -> None:
    data = bytearray(corrupt.read_bytes())
    data[9] ^= 1  # the version field: the file header's checksum fails
    corrupt.write_bytes(bytes(data))
    bag, damage = read_archives(str(corrupt.parent / "*.events"), lenient=True,
                                blocksize=20_000, with_damage=True)
    records, found = dask.compute(bag.to_delayed(), damage)
    assert [r for part in records for r in part] == [r for recs in many.records[:3] for r in recs]
    reader = ReadingRollManager(str(corrupt), lenient=True)
    assert list(reader) == []
    assert found == reader.damage
    # FORMAT.md: damage in the file header is reported at its start, byte 0
    assert [(d.path, d.offset) for d in found] == [(str(corrupt), 0)]


def test_nothing_matches(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing"):
        read_archives(str(tmp_path / "nothing*.events"))


def test_bad_arguments(many: Dataset) -> None:
    with pytest.raises(TypeError, match="columns"):
        read_archives(many.files[0], as_dataframe=True)
    with pytest.raises(TypeError, match="as_dataframe"):
        read_archives(many.files[0], columns=["host"])
    with pytest.raises(ValueError, match="blocksize"):
        read_archives(many.files[0], blocksize=0)
    with pytest.raises(ValueError, match="clash"):
        read_archives(many.files[0], as_dataframe=True, columns=["payload"])


def test_each_file_is_read_once_even_if_named_twice(many: Dataset) -> None:
    bag = read_archives([many.files[0], str(many.directory / "events_0*.events")])
    assert bag.npartitions == 10
    assert bag.count().compute(scheduler="sync") == 10 * PER_FILE


def test_a_streamed_partition_used_twice_is_read_whole_by_both(
    many: Dataset, client: object
) -> None:
    bag = read_archives(many.files[:2], blocksize=200_000)
    count, freq = dask.compute(bag.count(), bag.map(lambda r: r[0]["event_type"]).frequencies())
    assert count == 2 * PER_FILE
    expected = Counter(m["event_type"] for recs in many.records[:2] for m, _ in recs)
    assert dict(freq) == dict(expected)
    kept = bag.persist()
    assert kept.count().compute() == 2 * PER_FILE
    assert collect(kept.filter(lambda r: r[0]["seq"].endswith("-7"))) == [
        r for recs in many.records[:2] for r in recs if r[0]["seq"].endswith("-7")
    ]
