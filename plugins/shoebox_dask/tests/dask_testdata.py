"""Shared fixtures: archives written by the core's writer, and one real Dask cluster per session.

The cluster has two worker *processes* (records, parts and errors cross process boundaries by
pickle, as on a real cluster); tests that need it take ``client``. The moto S3 server comes from
the core's pytest plugin.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shoebox_core.roll_manager import WritingRollManager

# Worker processes inherit the environment: s3fs there must find the region too.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

Record = tuple[dict[str, str], Any]

FILES = 20
PER_FILE = 5_000
EVENT_TYPES = ("compute.instance.create.start", "compute.instance.create.end",
               "compute.instance.delete.start", "compute.instance.delete.end", "image.upload")


def make_records(n: int, seed: int) -> list[Record]:
    """``n`` varied records: 1-4 metadata fields (some absent), str and bytes payloads."""
    rng = random.Random(seed)
    records: list[Record] = []
    for i in range(n):
        metadata = {"event_type": rng.choice(EVENT_TYPES), "seq": f"{seed}-{i}"}
        if rng.random() < 0.8:
            metadata["host"] = f"compute-{rng.randrange(12):02d}"
        if rng.random() < 0.1:
            metadata["note"] = "ünïcode ✓"
        if i % 3 == 0:
            payload: Any = rng.randbytes(rng.randrange(0, 200))
        else:
            payload = '{"n": ' + str(i) + ', "pad": "' + "x" * rng.randrange(0, 300) + '"}'
        records.append((metadata, payload))
    return records


def write_archive(directory: Path, name: str, records: Sequence[Record], **options: Any) -> Path:
    """Write ``records`` as one sealed archive ``directory/name`` with the core's writer."""
    writer = WritingRollManager(name, None, str(directory), background=False, recover=False,
                                **options)
    try:
        writer.write_many(records)
    finally:
        writer.close()
    return directory / name


def canon(records: Sequence[Record]) -> list[str]:
    """A sortable form of a multiset of records (dicts do not sort)."""
    return sorted(repr((sorted(m.items()), p)) for m, p in records)


@dataclass(frozen=True)
class Dataset:
    """Archives on disk and the records each holds, in write order."""

    directory: Path
    files: list[Path]
    records: list[list[Record]]

    @property
    def all_records(self) -> list[Record]:
        return [r for per_file in self.records for r in per_file]


@pytest.fixture(scope="session")
def many(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """20 archives x 5,000 records, small blocks so each file has many."""
    directory = tmp_path_factory.mktemp("many")
    files, records = [], []
    for i in range(FILES):
        recs = make_records(PER_FILE, seed=i)
        files.append(write_archive(directory, f"events_{i:02d}.events", recs, block_records=500))
        records.append(recs)
    return Dataset(directory, files, records)


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """One archive of 60,000 records in ~240 blocks (about 9 MB)."""
    directory = tmp_path_factory.mktemp("big")
    recs = make_records(60_000, seed=99)
    path = write_archive(directory, "big.events", recs, block_records=250)
    return Dataset(directory, [path], [recs])


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """A LocalCluster with two worker processes, one thread each, for the whole session."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as local:
        yield local


@pytest.fixture()
def client(cluster: Any) -> Iterator[Any]:
    """A client of the session's cluster: ``compute()`` runs on its workers."""
    from distributed import Client

    with Client(cluster) as connected:
        yield connected


def collect(bag: Any) -> list[Record]:
    """All records of a bag, its partitions computed together and joined in order here.

    (``bag.compute()`` joins them on a worker into a plain list, which distributed then sends
    element by element: far slower for a hundred thousand records.)
    """
    import dask

    return [r for part in dask.compute(*bag.to_delayed()) for r in part]
