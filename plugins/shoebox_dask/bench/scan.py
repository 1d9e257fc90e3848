"""Benchmark: a metadata count over shoebox archives, one process against a 2-worker Dask cluster.

Writes ``--gb`` GiB of the ``nova`` workload (OpenStack notifications of ~2.9 KB, four metadata
keys) twice: as many archives rolled at 64 MiB, and as one huge archive. Each set is then scanned
for a count of records per ``event`` type:

* ``one process``: the core's ``ReadingRollManager`` and a ``Counter``;
* ``bag``: ``read_archives(...).map(event).frequencies()`` on a ``LocalCluster`` of two worker
  processes (one thread each);
* ``dataframe``: ``read_archives(..., as_dataframe=True, columns=["event"], payload=False)``
  and ``groupby("event").size()`` on the same cluster.

Every figure comes from the same run, side by side; the counts are checked against each other.
The figures mean something only on an otherwise idle machine: two workers need two free cores.
Usage: ``python plugins/shoebox_dask/bench/scan.py [--gb 2] [--dir DIR] [--quick]``. (Named
``scan.py``, not ``dask.py``: a script called ``dask.py`` would shadow the dask package.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

NOVA = "nova-notifications.jsonl.gz"
ROLL_BYTES = 64 * 1024 * 1024


def nova_sample(path: Path) -> list[tuple[dict[str, str], str]]:
    """The distinct notifications of the shared sample, as stacktach-shoebox users stored them."""
    records = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            metadata = {
                "event": event["event_type"],
                "request_id": event["_context_request_id"] or "",
                "generated": str(event["timestamp"]),
                "uuid": event["payload"].get("instance_id") or "",
            }
            records.append((metadata, line.rstrip("\n")))
    return records


def write(directory: Path, sample: list[Any], total_bytes: int, *, one_file: bool) -> int:
    """Write about ``total_bytes`` of records; return how many."""
    from shoebox_core.roll_checker import SizeRollChecker
    from shoebox_core.roll_manager import WritingRollManager

    checker = None if one_file else SizeRollChecker(roll_size_mb=ROLL_BYTES // (1024 * 1024))
    template = "huge.events" if one_file else "nova_{seq}.events"
    writer = WritingRollManager(template, checker, str(directory), background=False,
                                recover=False, flush_interval=None)
    per_pass = sum(len(p) + 120 for _, p in sample)
    count = 0
    try:
        while count * (per_pass / len(sample)) < total_bytes:
            writer.write_many(sample)
            count += len(sample)
    finally:
        writer.close()
    return count


def one_process(pattern: str) -> Counter[str]:
    from shoebox_core.roll_manager import ReadingRollManager

    with ReadingRollManager(pattern) as reader:
        return Counter(m["event"] for m, _ in reader)


def event_of(record: Any) -> str:
    return record[0]["event"]  # type: ignore[no-any-return]


def with_bag(pattern: str) -> Counter[str]:
    from shoebox_dask import read_archives

    return Counter(dict(read_archives(pattern).map(event_of).frequencies().compute()))


def with_dataframe(pattern: str) -> Counter[str]:
    from shoebox_dask import read_archives

    df = read_archives(pattern, as_dataframe=True, columns=["event"], payload=False)
    return Counter(df.groupby("event").size(split_out=1).compute().to_dict())


def _worker_cpu(client: Any) -> float:
    """CPU seconds the worker processes used so far."""
    if client is None:
        return time.process_time()
    return sum(client.run(time.process_time).values())


def timed(run: Any, pattern: str, client: Any = None) -> tuple[float, float, Counter[str]]:
    """Wall-clock seconds, CPU seconds (of this process, or of the workers) and the counts."""
    cpu = _worker_cpu(client)
    start = time.perf_counter()
    counts = run(pattern)
    return time.perf_counter() - start, _worker_cpu(client) - cpu, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="GiB of archives per data set")
    parser.add_argument("--dir", help="where to write them (default: a temporary directory)")
    parser.add_argument("--data", default=os.environ.get("SHOEBOX_SHARED_DATA",
                                                         "/work/shared/data"))
    parser.add_argument("--quick", action="store_true", help="0.1 GiB: a smoke run")
    args = parser.parse_args()
    size = int((0.1 if args.quick else args.gb) * 1024**3)
    base = Path(args.dir or tempfile.mkdtemp(prefix="shoebox-dask-bench-"))
    sample = nova_sample(Path(args.data) / NOVA)

    from distributed import Client, LocalCluster

    results = []
    try:
        for label, one_file in (("many files", False), ("one huge file", True)):
            directory = base / label.replace(" ", "-")
            directory.mkdir(parents=True, exist_ok=True)
            records = write(directory, sample, size, one_file=one_file)
            files = sorted(directory.iterdir())
            on_disk = sum(f.stat().st_size for f in files)
            pattern = str(directory / "*.events")
            one_process(pattern)  # warm the page cache: every run reads from memory
            base_time, base_cpu, expected = timed(one_process, pattern)
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                with_bag(pattern)  # warm the workers (imports: dask.bag, pandas, pyarrow)
                with_dataframe(pattern)
                bag_time, bag_cpu, bag_counts = timed(with_bag, pattern, client)
                df_time, df_cpu, df_counts = timed(with_dataframe, pattern, client)
            assert bag_counts == expected == df_counts, "the counts differ"
            assert sum(expected.values()) == records
            results.append((label, len(files), on_disk, records, base_time, bag_time, df_time,
                            base_cpu, bag_cpu, df_cpu))
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)

    print(f"nova workload, {os.cpu_count()} CPUs; rates in records/s (speed-up against one "
          "process)")
    print(f"{'data set':<15}{'files':>6}{'MiB':>8}{'records':>10}{'one process':>14}"
          f"{'bag, 2 workers':>24}{'dataframe, 2 workers':>26}")
    for label, nfiles, on_disk, records, base_time, bag_time, df_time, *_ in results:
        print(f"{label:<15}{nfiles:>6}{on_disk / 2**20:>8.0f}{records:>10}"
              f"{records / base_time:>14,.0f}"
              f"{records / bag_time:>16,.0f} ({base_time / bag_time:.2f}x)"
              f"{records / df_time:>18,.0f} ({base_time / df_time:.2f}x)")
    # CPU seconds do not depend on what else the machine runs: on two idle cores, the speed-up
    # is at most 2 x (one process's CPU / the workers' CPU).
    print("CPU seconds (one process | bag workers | dataframe workers); 2 x ratio = the speed-up "
          "two idle cores allow")
    for label, *_, base_cpu, bag_cpu, df_cpu in results:
        print(f"{label:<15}{base_cpu:>8.2f} |{bag_cpu:>8.2f} ({2 * base_cpu / bag_cpu:.2f}x) |"
              f"{df_cpu:>8.2f} ({2 * base_cpu / df_cpu:.2f}x)")


if __name__ == "__main__":
    main()
