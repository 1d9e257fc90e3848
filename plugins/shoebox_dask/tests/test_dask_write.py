"""to_archives: one sealed archive per partition, deterministic names, nothing overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import dask.bag as db
import dask.dataframe as dd
import pandas as pd
import pytest
from dask_testdata import canon, collect, make_records

from shoebox_core.roll_manager import ReadingRollManager
from shoebox_dask import read_archives, to_archives
from shoebox_dask._write import write_partition


def core_records(pattern: str) -> list:
    with ReadingRollManager(pattern) as reader:
        return list(reader)


def test_bag_round_trip_on_the_cluster(tmp_path: Path, client: object) -> None:
    records = make_records(6_000, seed=5)
    bag = db.from_sequence(records, npartitions=6)
    names = to_archives(bag, tmp_path / "out", template="part_{partition}.events")
    assert names == [str(tmp_path / "out" / f"part_{i}.events") for i in range(6)]
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.path.basename(n) for n in names)
    partitions = [core_records(n) for n in names]
    assert [r for p in partitions for r in p] == records  # each partition in order
    again = read_archives(str(tmp_path / "out"))
    assert canon(collect(again)) == canon(records)


def test_read_transform_write_read_on_the_cluster(tmp_path: Path, client: object) -> None:
    records = make_records(4_000, seed=6)
    bag = db.from_sequence(records, npartitions=3)
    to_archives(bag, tmp_path / "a")
    source = read_archives(str(tmp_path / "a"), blocksize=20_000)
    creates = source.filter(lambda r: r[0]["event_type"].endswith(".start"))
    names = to_archives(creates, tmp_path / "b", compress="zstd", compression="zstd",
                        block_records=100)
    assert all(n.endswith(".events.zst") for n in names)
    assert len(names) <= source.npartitions
    expected = [r for r in records if r[0]["event_type"].endswith(".start")]
    assert [r for n in names for r in core_records(n)] == expected


def test_dataframe_round_trip(tmp_path: Path, client: object) -> None:
    records = make_records(3_000, seed=8)
    bag = db.from_sequence(records, npartitions=2)
    to_archives(bag, tmp_path / "a")
    df = read_archives(str(tmp_path / "a"), as_dataframe=True, columns=["event_type", "host"])
    names = to_archives(df, tmp_path / "b", compress="gzip")
    assert all(n.endswith(".gz") for n in names)
    expected = [({k: v for k, v in m.items() if k in ("event_type", "host")}, p)
                for m, p in records]
    assert [r for n in names for r in core_records(n)] == expected  # missing host stays missing


def test_plain_pandas_columns_become_string_metadata(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [1, 2, None], "name": ["a", None, "c"], "body": ["x", "y", "z"]})
    df = dd.from_pandas(frame, npartitions=1)
    (name,) = to_archives(df, tmp_path, payload="body", scheduler="sync")
    assert core_records(name) == [({"n": "1.0", "name": "a"}, "x"), ({"n": "2.0"}, "y"),
                                  ({"name": "c"}, "z")]
    with pytest.raises(KeyError, match="payload"):
        to_archives(df, tmp_path / "other", scheduler="sync")


def test_existing_archives_are_never_overwritten(tmp_path: Path) -> None:
    bag = db.from_sequence(make_records(100, seed=1), npartitions=3)
    to_archives(bag, tmp_path, scheduler="sync")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError, match="part_00000.events"):
        to_archives(bag, tmp_path, scheduler="sync")
    with pytest.raises(FileExistsError, match="part_00002.events.zst"):
        to_archives(bag, tmp_path, compress="zstd", scheduler="sync")  # a twin counts
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    names = to_archives(bag, tmp_path, template="more_{partition:03d}.events", scheduler="sync")
    assert [os.path.basename(n) for n in names] == [f"more_{i:03d}.events" for i in range(3)]


def test_a_retried_task_replaces_its_own_archive(tmp_path: Path) -> None:
    target = str(tmp_path / "part_00004.events")
    first = make_records(50, seed=1)
    second = make_records(60, seed=2)
    assert write_partition(first, target) == target
    assert write_partition(second, target) == target  # the retry: same name, no second file
    assert os.listdir(tmp_path) == ["part_00004.events"]
    assert core_records(target) == second


def test_empty_partitions_write_no_archive(tmp_path: Path) -> None:
    bag = db.from_sequence(make_records(10, seed=1), npartitions=5).filter(
        lambda r: r[0]["seq"] in ("1-0", "1-9")
    )
    names = to_archives(bag, tmp_path, scheduler="sync")
    assert [os.path.basename(n) for n in names] == ["part_00000.events", "part_00004.events"]
    assert sorted(os.listdir(tmp_path)) == ["part_00000.events", "part_00004.events"]


def test_compute_false_returns_one_delayed_per_partition(tmp_path: Path) -> None:
    import dask

    bag = db.from_sequence(make_records(10, seed=1), npartitions=2)
    tasks = to_archives(bag, tmp_path, compute=False)
    assert len(tasks) == 2 and os.listdir(tmp_path) == []
    assert len(dask.compute(*tasks, scheduler="sync")) == 2
    assert len(os.listdir(tmp_path)) == 2


def test_bad_input_and_options(tmp_path: Path) -> None:
    bag = db.from_sequence([({"a": "b"}, "ok"), "not a record"], npartitions=1)
    with pytest.raises(TypeError, match="element 1"):
        to_archives(bag, tmp_path / "x", scheduler="sync")
    assert not any(p.suffix == ".events" for p in (tmp_path / "x").iterdir())
    bad_meta = db.from_sequence([({"a": 1}, "ok")], npartitions=1)
    with pytest.raises(TypeError):
        to_archives(bad_meta, tmp_path / "y", scheduler="sync")
    good = db.from_sequence([({"a": "b"}, "ok")], npartitions=2)
    with pytest.raises(ValueError, match="partition"):
        to_archives(good, tmp_path, template="same.events")
    with pytest.raises(ValueError, match="plain"):
        to_archives(good, tmp_path, template="../up_{partition}.events")
    with pytest.raises(TypeError, match="directory"):
        to_archives(good, tmp_path, directory="/elsewhere")
    with pytest.raises(ValueError, match="compress"):
        to_archives(good, tmp_path, compress="bz2")
    with pytest.raises(TypeError, match="dask bag or dataframe"):
        to_archives([({"a": "b"}, "ok")], tmp_path)
    with pytest.raises(ValueError, match="compression"):
        to_archives(good, tmp_path / "z", compression="lz4", scheduler="sync")


def test_strftime_and_brace_characters_in_names_are_kept_literally(tmp_path: Path) -> None:
    bag = db.from_sequence(make_records(10, seed=1), npartitions=1)
    (name,) = to_archives(bag, tmp_path, template="p%Y_{{x}}_{partition}.events",
                          scheduler="sync")
    assert os.path.basename(name) == "p%Y_{x}_0.events"
    assert os.listdir(tmp_path) == ["p%Y_{x}_0.events"]
