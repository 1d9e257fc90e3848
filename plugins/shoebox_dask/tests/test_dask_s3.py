"""read_archives and to_archives against a real S3 server (moto, on 127.0.0.1), on the cluster."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import dask.bag as db
import pytest
from dask_testdata import Dataset, canon, collect, make_records, write_archive

from shoebox_core.errors import CorruptArchive
from shoebox_core.ship.compress import ZstdCallback
from shoebox_dask import read_archives, to_archives

s3fs = pytest.importorskip("s3fs")


@pytest.fixture()
def bucket(moto: Any) -> tuple[str, dict[str, Any]]:
    """A new bucket on the moto server, and the s3fs options that reach it."""
    options = moto.storage_options()
    name = f"shoebox-dask-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(**options).mkdir(name)
    return name, options


def test_read_many_and_one_split_archive_from_s3(
    bucket: tuple[str, dict[str, Any]], many: Dataset, big: Dataset, tmp_path: Path,
    client: object,
) -> None:
    name, options = bucket
    fs = s3fs.S3FileSystem(**options)
    for f in many.files[:4]:
        fs.put_file(str(f), f"{name}/events/{f.name}")
    recs = make_records(1_000, seed=42)
    write_archive(tmp_path, "zipped.events", recs, archive_callback=ZstdCallback())
    fs.put_file(str(tmp_path / "zipped.events.zst"), f"{name}/events/zipped.events.zst")
    fs.put_file(str(big.files[0]), f"{name}/big/big.events")

    bag = read_archives(f"s3://{name}/events/*.events", storage_options=options)
    assert bag.npartitions == 5
    expected = [r for recs_ in many.records[:4] for r in recs_] + recs
    assert collect(bag) == expected  # sorted by path: events_00..03, then zipped

    split = read_archives(f"s3://{name}/big", storage_options=options, blocksize="512 KiB")
    assert split.npartitions > 10
    assert collect(split) == big.records[0]

    df = read_archives(f"s3://{name}/big/big.events", storage_options=options,
                       blocksize=2_000_000, as_dataframe=True, columns=["event_type"],
                       payload=False)
    counts = df.groupby("event_type").size().compute().to_dict()
    from collections import Counter

    assert counts == dict(Counter(m["event_type"] for m, _ in big.records[0]))


def test_corrupt_object_strict_and_lenient(
    bucket: tuple[str, dict[str, Any]], many: Dataset, client: object
) -> None:
    name, options = bucket
    fs = s3fs.S3FileSystem(**options)
    data = bytearray(many.files[0].read_bytes())
    data[len(data) // 2] ^= 0x01
    fs.pipe_file(f"{name}/bad.events", bytes(data))
    url = f"s3://{name}/bad.events"
    with pytest.raises(CorruptArchive, match=f"{name}/bad.events at byte"):
        read_archives(url, storage_options=options, blocksize=50_000).count().compute()
    bag, damage = read_archives(url, storage_options=options, blocksize=50_000, lenient=True,
                                with_damage=True)
    good = collect(bag)
    assert 0 < len(good) < len(many.records[0])
    assert all(r in many.records[0] for r in good)
    assert len(damage.compute()) == 1


def test_to_archives_on_s3_round_trip_and_no_overwrite(
    bucket: tuple[str, dict[str, Any]], client: object
) -> None:
    name, options = bucket
    records = make_records(5_000, seed=11)
    bag = db.from_sequence(records, npartitions=4)
    url = f"s3://{name}/out"
    names = to_archives(bag, url, storage_options=options, compress="zstd")
    assert names == [f"{url}/part_{i:05d}.events.zst" for i in range(4)]
    fs = s3fs.S3FileSystem(**options)
    fs.invalidate_cache()
    assert sorted(fs.ls(f"{name}/out", detail=False)) == [n[len("s3://"):] for n in names]
    back = read_archives(url, storage_options=options)
    assert canon(collect(back)) == canon(records)
    assert collect(back) == records  # partitions in name order, records in write order
    with pytest.raises(FileExistsError):
        to_archives(bag, url, storage_options=options)
