"""Time shoebox against what users would otherwise archive records with, in one process run.

Usage (from the repository root, after ``pip install -e '.[bench]'``)::

    python bench/compare.py              # the full run: about 14 minutes on 2 cores
    python bench/compare.py --quick      # the same tables on smaller data, well under a minute
    python bench/compare.py --clock cpu  # CPU time instead of wall time: steadier when the
                                         # machine is busy with other work

For each workload (``small``: 1,000,000 records of ~200-byte JSON payloads with three metadata
keys; ``nova``: 200,000 OpenStack notifications of ~2.9 KB with four metadata keys) every
contestant writes the same in-memory list of ``(metadata, payload)`` records to a file and reads it
back, materialising each record as a metadata dict and a payload str. Best of 3 runs each.

Fairness: the data is built before any timing, then ``gc.collect(); gc.freeze()`` moves it out of
the collector's way, the same for every contestant; each timed step starts after a
``gc.collect()``; runs are interleaved (run 1 of every contestant, then run 2...) so that a noisy
neighbour hurts everyone alike; every contestant's read-back is compared with the input once,
untimed. Files go to a tmpfs directory when there is one (page cache, no disk: shoebox's fsync of
each sealed file costs nothing there, as the others do no fsync at all); ``--dir`` changes it.

Then a pipeline figure (the ``small`` stream written with zstd, then gzip, compression of every
sealed file in the writer's background worker; the time runs until ``close()`` returns, when
every file is sealed and compressed) and the peak RSS of a writer and a reader, each in its own
process, fed by a generator, for two record counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a clone without installing shoebox-core
    sys.path.insert(1, str(HERE.parent))

import contestants as _contestants  # noqa: E402
import wholejob  # noqa: E402
import workloads  # noqa: E402

from shoebox_core.format import codec as _codec  # noqa: E402
from shoebox_core.read.manager import ReadingRollManager  # noqa: E402
from shoebox_core.ship.compress import GzipCallback, ZstdCallback  # noqa: E402
from shoebox_core.write.checkers import SizeRollChecker  # noqa: E402
from shoebox_core.write.manager import WritingRollManager  # noqa: E402

MB = 1_000_000
CEILING = "page cache"  # the ceiling row: one write (and one read) of shoebox's output
MiB = 1024 * 1024
RSS_LIMIT_MB = 150


@dataclass
class Sizes:
    """How much data each stage uses."""

    small: int
    nova: int
    runs: int
    memory: tuple[int, int]
    pipeline_runs: int


FULL = Sizes(small=1_000_000, nova=200_000, runs=3, memory=(200_000, 1_000_000), pipeline_runs=3)
QUICK = Sizes(small=60_000, nova=12_000, runs=2, memory=(20_000, 100_000), pipeline_runs=1)


@dataclass
class Result:
    """Best times of one contestant on one workload."""

    name: str
    write: float = float("inf")
    read: float = float("inf")
    size: int = 0


@dataclass
class Workload:
    """A named list of records and what was measured on it."""

    name: str
    records: Sequence[workloads.Record]
    description: str
    payload_bytes: int = 0
    results: list[Result] = field(default_factory=list)

    def result(self, name: str) -> Result | None:
        return next((r for r in self.results if r.name == name), None)


# -- helpers ---------------------------------------------------------------------------------
def _fresh(directory: Path) -> str:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return str(directory)


def _bytes_in(directory: Path, suffix: str = "") -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.name.endswith(suffix))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter  # set by --clock; the pipeline is always timed by the wall clock


def _timed(action: Callable[[], object], clock: Callable[[], float] | None = None
           ) -> tuple[float, object]:
    clock = clock or _clock
    gc.collect()
    start = clock()
    result = action()
    return clock() - start, result


def _filesystem(path: Path) -> str:
    """The type of filesystem holding ``path`` (from /proc/mounts; "" when unknown)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    best, kind = "", ""
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and (target == parts[1] or target.startswith(parts[1].rstrip("/") + "/")):
            if len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


def _default_root() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and _filesystem(shm) == "tmpfs":
        return shm
    return Path(tempfile.gettempdir())


def _rate(count: int, seconds: float) -> str:
    per_second = count / seconds
    return f"{per_second / 1e6:.2f} M" if per_second >= 1e5 else f"{per_second / 1e3:.0f} k"


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if reference else "-"


# -- the side-by-side table ------------------------------------------------------------------
def run_workload(work: Workload, chosen: Sequence[_contestants.Contestant], root: Path,
                 runs: int) -> None:
    """Time every contestant on ``work``, interleaving their runs; check each read-back once."""
    results = {c.name: Result(c.name) for c in chosen}
    work.results = list(results.values())
    expected = len(work.records)
    output = b""  # shoebox's archive bytes, for the page-cache ceiling
    for run in range(runs):
        for contestant in chosen:
            directory = root / f"{work.name}-{contestant.name.replace(' ', '-')}"
            target = _fresh(directory)
            seconds, _ = _timed(lambda: contestant.write(work.records, target))  # noqa: B023
            result = results[contestant.name]
            result.write = min(result.write, seconds)
            result.size = _bytes_in(directory)
            seconds, count = _timed(lambda: contestant.read(target))  # noqa: B023
            if count != expected:
                raise SystemExit(f"{contestant.name} read {count} records back, wrote {expected}")
            result.read = min(result.read, seconds)
            if run == 0:
                _verify(contestant, target, work.records)
                if contestant.name == "shoebox v2":
                    output = b"".join(p.read_bytes() for p in sorted(directory.iterdir()))
            shutil.rmtree(directory, ignore_errors=True)
        print(f"  {work.name}: run {run + 1} of {runs} done", file=sys.stderr, flush=True)
    if output:
        work.results.append(_ceiling(output, root / f"{work.name}-ceiling", runs))


def _ceiling(output: bytes, directory: Path, runs: int) -> Result:
    """The physical limit: one ``write`` of shoebox's whole output to a new file, and one read
    of it back (page cache, like every contestant here)."""
    result = Result(CEILING, size=len(output))
    target = Path(_fresh(directory)) / "ceiling.bin"
    for _run in range(runs):
        target.unlink(missing_ok=True)

        def write() -> None:
            with open(target, "wb", buffering=0) as out:
                view = memoryview(output)
                while view:
                    view = view[out.write(view) or 0:]

        def read() -> int:
            with open(target, "rb", buffering=0) as stream:
                return len(stream.readall())

        seconds, _nothing = _timed(write)
        result.write = min(result.write, seconds)
        seconds, _size = _timed(read)
        result.read = min(result.read, seconds)
    shutil.rmtree(directory, ignore_errors=True)
    return result


def _verify(contestant: _contestants.Contestant, directory: str,
            records: Sequence[workloads.Record]) -> None:
    count = 0
    for count, (got, want) in enumerate(zip(contestant.records(directory), records), 1):
        if (got[0], got[1]) != want or type(got[1]) is not type(want[1]):
            raise SystemExit(f"{contestant.name}: record {count - 1} read back differs")
    if count != len(records):
        raise SystemExit(f"{contestant.name}: {count} records read back, {len(records)} written")


def print_table(work: Workload) -> None:
    """One row per contestant: rates, MB/s of payload, bytes, each as a ratio to orjson."""
    count = len(work.records)
    ref = work.result("orjson lines")
    print(f"\n## {work.name}: {work.description}")
    header = (f"{'contestant':<16}{'write rec/s':>12}{'MB/s':>8}{'x orjson':>10}"
              f"{'read rec/s':>12}{'MB/s':>8}{'x orjson':>10}{'output MB':>11}{'x orjson':>10}")
    print(header)
    print("-" * len(header))
    for r in work.results:
        print(
            f"{r.name:<16}{_rate(count, r.write):>12}{work.payload_bytes / r.write / MB:>8.1f}"
            f"{_ratio(ref.write, r.write) if ref else '-':>10}"
            f"{_rate(count, r.read):>12}{work.payload_bytes / r.read / MB:>8.1f}"
            f"{_ratio(ref.read, r.read) if ref else '-':>10}"
            f"{r.size / MB:>11.1f}{_ratio(r.size, ref.size) if ref else '-':>10}"
        )


# -- pipeline ---------------------------------------------------------------------------------
@dataclass
class Pipeline:
    """End-to-end rate of writing with on-close compression, and what it saved."""

    codec: str
    seconds: float = float("inf")
    files: int = 0
    compressed: int = 0


def run_pipeline(records: Sequence[workloads.Record], root: Path, runs: int) -> list[Pipeline]:
    """Write ``records`` with each on-close codec; time until close() has drained the worker.

    Always on the wall clock (the worker thread is the point), the plain write too, as the
    reference of the same run and clock.
    """
    found: list[Pipeline] = []
    codecs: list[tuple[str, Callable[[], object], str]] = [
        ("(none)", lambda: None, ".sbx"),
        ("zstd", ZstdCallback, ".zst"),  # the default, level 1
        ("zstd level=3", lambda: ZstdCallback(level=3), ".zst"),
        ("gzip", GzipCallback, ".gz"),  # level 6
    ]
    for codec, make, suffix in codecs:
        best = Pipeline(codec)
        for run in range(runs):
            directory = root / f"pipeline-{len(found)}"
            target = _fresh(directory)

            def write(target: str = target, make: Callable[[], object] = make) -> None:
                writer = WritingRollManager(
                    "bench_{seq}.sbx",
                    SizeRollChecker(roll_size_mb=_contestants.ROLL_MB),
                    target,
                    make(),
                )
                put = writer.write
                for metadata, payload in records:
                    put(metadata, payload)
                writer.close()  # returns once every sealed file is compressed and verified

            seconds, _nothing = _timed(write, time.perf_counter)
            names = os.listdir(directory)
            if any(not n.endswith(suffix) for n in names):
                raise SystemExit(f"pipeline {codec}: uncompressed files left: {sorted(names)}")
            if seconds < best.seconds:
                best = Pipeline(codec, seconds, len(names), _bytes_in(directory, suffix))
            if run == 0:  # every record comes back from the compressed files
                read_back = sum(1 for _r in ReadingRollManager("bench_*.sbx", target))
                if read_back != len(records):
                    raise SystemExit(f"pipeline {codec}: {read_back} records read back")
            shutil.rmtree(directory, ignore_errors=True)
        found.append(best)
    return found


def print_whole_job(pipeline: list[Pipeline], jobs: list[wholejob.Job], work: Workload) -> None:
    """shoebox's pipeline rows beside the loggers doing the same job, until all is compressed."""
    count = len(work.records)
    rows = [(f"shoebox {p.codec}", p.seconds, p.files, p.compressed)
            for p in pipeline if p.codec in ("zstd", "gzip")]
    rows += [(j.name, j.seconds, j.files, j.size) for j in jobs]
    if not rows:
        return
    reference = rows[0][1]
    print(f"\n## whole job: the {work.name} events ({count:,}) into files rolled at "
          f"{_contestants.ROLL_MB} MiB, every file compressed; time until the last is compressed")
    header = f"{'contestant':<26}{'rec/s':>10}{'x shoebox zstd':>16}{'files':>7}{'output MB':>11}"
    print(header)
    print("-" * len(header))
    for name, seconds, files, size in rows:
        print(f"{name:<26}{_rate(count, seconds):>10}{_ratio(reference, seconds):>16}"
              f"{files:>7}{size / MB:>11.1f}")


def print_pipeline(found: list[Pipeline], work: Workload) -> None:
    """The pipeline table: each codec's rate, as a ratio to the plain write's, and its ratio."""
    plain, *lines = found
    count = len(work.records)
    print(f"\n## pipeline: {work.name} ({count:,} records), rolled at {_contestants.ROLL_MB} MiB, "
          "each sealed file compressed (and verified) by the background worker;")
    print("   time until close() returns, i.e. until every file is sealed and compressed")
    header = (f"{'on close':<16}{'rec/s':>12}{'x plain write':>15}{'files':>7}"
              f"{'archive MB':>12}{'compressed MB':>15}{'ratio':>8}")
    print(header)
    print("-" * len(header))
    print(f"{plain.codec:<16}{_rate(count, plain.seconds):>12}{'1.00x':>15}{plain.files:>7}"
          f"{plain.compressed / MB:>12.1f}")
    for line in lines:
        print(f"{line.codec:<16}{_rate(count, line.seconds):>12}"
              f"{_ratio(plain.seconds, line.seconds):>15}{line.files:>7}"
              f"{plain.compressed / MB:>12.1f}{line.compressed / MB:>15.1f}"
              f"{plain.compressed / line.compressed:>7.1f}x")


# -- memory ---------------------------------------------------------------------------------
def _peak_rss() -> int:
    """This process's peak resident set size in bytes (VmHWM: not inherited from a parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def memory_child(role: str, count: int, directory: str) -> None:
    """Run in a fresh process: write ``count`` streamed records, or read them; print the RSS."""
    base = _peak_rss()
    if role == "writer":
        writer = WritingRollManager("bench_{seq}.sbx",
                                    SizeRollChecker(roll_size_mb=_contestants.ROLL_MB), directory)
        put = writer.write
        for metadata, payload in workloads.small_records(count):
            put(metadata, payload)
        writer.close()
        seen = count
    else:
        seen = 0
        for _metadata, _payload in ReadingRollManager("bench_*.sbx", directory):
            seen += 1
    print(json.dumps({"base": base, "peak": _peak_rss(), "records": seen}))


MemoryRow = tuple[int, dict[str, int], dict[str, int]]  # records, writer figures, reader figures


def run_memory(counts: Sequence[int], root: Path) -> list[MemoryRow]:
    """Peak RSS of a writer and then a reader of ``count`` small records, each in a child."""
    rows = []
    for count in counts:
        directory = root / f"memory-{count}"
        target = _fresh(directory)
        measured = []
        for role in ("writer", "reader"):
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", role, str(count), target],
                check=True, capture_output=True, text=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            if figures["records"] != count:
                raise SystemExit(f"memory {role}: {figures['records']} records, not {count}")
            measured.append(figures)
        rows.append((count, measured[0], measured[1]))
        shutil.rmtree(directory, ignore_errors=True)
    return rows


def print_memory(rows: list[MemoryRow]) -> None:
    print("\n## peak RSS, small workload: writer and reader each in a fresh process, the records "
          "streamed from a generator")
    header = (f"{'records':>10}{'writer MB':>11}{'(after imports)':>17}"
              f"{'reader MB':>11}{'(after imports)':>17}")
    print(header)
    print("-" * len(header))
    for count, writer, reader in rows:
        print(f"{count:>10,}{writer['peak'] / MB:>11.1f}{writer['base'] / MB:>17.1f}"
              f"{reader['peak'] / MB:>11.1f}{reader['base'] / MB:>17.1f}")


# -- targets ----------------------------------------------------------------------------------
def print_targets(done: dict[str, Workload], pipeline: list[Pipeline], jobs: list[wholejob.Job],
                  memory: list[MemoryRow]) -> None:
    """Each target of issue 13 (and the design brief's), measured in this run."""
    checks: list[tuple[str, float, float]] = []  # (what, measured ratio, target)

    def ratio(work: Workload, mine: str, other: str, column: str) -> float | None:
        ours, theirs = work.result(mine), work.result(other)
        if ours is None or theirs is None:
            return None
        return float(getattr(theirs, column) / getattr(ours, column))

    goals = {  # (workload, shoebox row, other row, column): target ratio
        ("small", "shoebox v2", "orjson lines", "write"): 1.0,
        ("small", "shoebox v2", "msgpack stream", "write"): 0.8,
        ("small", "shoebox many", "msgpack stream", "write"): 1.0,
        ("small", "shoebox v2", "orjson lines", "read"): 1.0,
        ("small", "shoebox v2", "msgpack stream", "read"): 1.0,
        ("nova", "shoebox v2", "orjson lines", "write"): 1.2,
        ("nova", "shoebox v2", "msgpack stream", "write"): 1.0,
        ("nova", "shoebox v2", "orjson lines", "read"): 1.2,
        ("nova", "shoebox v2", "msgpack stream", "read"): 1.0,
    }
    for (name, mine, other, column), goal in goals.items():
        work = done.get(name)
        value = ratio(work, mine, other, column) if work is not None else None
        if value is not None:
            label = "write_many" if mine == "shoebox many" else column
            checks.append((f"{name} {label} vs {other}", value, goal))
    zstd = next((p for p in pipeline if p.codec == "zstd"), None)
    if zstd is not None:
        checks.append(("pipeline zstd vs plain shoebox write", pipeline[0].seconds
                       / zstd.seconds, 0.8))
        for job in jobs:
            checks.append((f"whole job: shoebox zstd vs {job.name}", job.seconds / zstd.seconds,
                           1.0))
    print("\n## targets")
    for what, value, goal in checks:
        verdict = "ok" if value >= goal else f"MISSED by {(goal - value) / goal:.0%}"
        print(f"{what:<52}{value:>7.2f}x  (target {goal:.1f}x)  {verdict}")
    for count, writer, reader in memory:
        for role, figures in (("writer", writer), ("reader", reader)):
            peak = figures["peak"] / MB
            verdict = "ok" if peak < RSS_LIMIT_MB else "MISSED"
            print(f"{f'{role} peak RSS, {count:,} small records':<52}{peak:>6.1f} MB"
                  f"  (target < {RSS_LIMIT_MB} MB)  {verdict}")
    for name, work in done.items():  # no target: how far from the physical limit
        ceiling = work.result(CEILING)
        ours = work.result("shoebox v2")
        if ceiling is not None and ours is not None:
            print(f"{f'{name}: shoebox v2 as a fraction of the page cache':<52}"
                  f"write {ceiling.write / ours.write:.3f}, read {ceiling.read / ours.read:.3f}")


# -- main -------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small data and fewer runs: a smoke run in well under a minute")
    parser.add_argument("--workloads", default="small,nova",
                        help="comma-separated: small, nova (default both)")
    parser.add_argument("--only", default="",
                        help="comma-separated contestant names (default all; 'orjson lines' is "
                             "kept as the reference)")
    parser.add_argument("--small", type=int, help="records of the small workload")
    parser.add_argument("--nova", type=int, help="records of the nova workload")
    parser.add_argument("--runs", type=int, help="runs per contestant (the best one counts)")
    parser.add_argument("--dir", help="where to write (default: /dev/shm if tmpfs, else $TMPDIR)")
    parser.add_argument("--nova-data", help=f"path of {workloads.NOVA_SOURCE}")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="time the tables by the wall clock (default) or by this process's "
                             "CPU time (steadier on a busy machine; the pipeline stays on the "
                             "wall clock)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline figure")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak RSS figure")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        role, count, directory = args.memory_child
        memory_child(role, int(count), directory)
        return 0

    global _clock
    _clock = CLOCKS[args.clock]
    sizes = QUICK if args.quick else FULL
    runs = args.runs or sizes.runs
    root = Path(args.dir) if args.dir else _default_root()
    root = Path(tempfile.mkdtemp(prefix="shoebox-bench-", dir=root))
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    chosen = [c() for c in _contestants.CONTESTANTS
              if not names or c.name in names or c.name == "orjson lines"]
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    try:
        quick = " (--quick: small data, indicative only)" if args.quick else ""
        print(f"# shoebox benchmark{quick}")
        path = "compiled (shoebox_core.format._native)" if _codec.NATIVE else "pure Python"
        print(f"record codec: {path}")
        print(f"Python {platform.python_version()} on {platform.machine()}, "
              f"{os.cpu_count()} CPUs; files in {root} ({_filesystem(root) or 'unknown fs'}); "
              f"best of {runs} runs, {args.clock} clock")
        for contestant in chosen:
            print(f"  {contestant.name:<16}{contestant.note}")
        memory = [] if args.no_memory else run_memory(sizes.memory, root)
        done: dict[str, Workload] = {}
        pipeline: list[Pipeline] = []
        jobs: list[wholejob.Job] = []
        for name in wanted:
            work = _build(name, args, sizes)
            if work is None:
                continue
            gc.collect()
            gc.freeze()  # the data is never collected: keep it out of every collection
            run_workload(work, chosen, root, runs)
            print_table(work)
            sys.stdout.flush()
            if name == "small" and not args.no_pipeline:
                pipeline = run_pipeline(work.records, root, sizes.pipeline_runs)
                print_pipeline(pipeline, work)
                jobs = wholejob.run_jobs(work.records, root, sizes.pipeline_runs,
                                         _contestants.ROLL_MB * MiB)
                print_whole_job(pipeline, jobs, work)
            done[name] = work
            work.records = ()
            gc.unfreeze()
            gc.collect()
        if memory:
            print_memory(memory)
        print_targets(done, pipeline, jobs, memory)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _build(name: str, args: argparse.Namespace, sizes: Sizes) -> Workload | None:
    if name == "small":
        count = args.small or sizes.small
        records: Sequence[workloads.Record] = list(workloads.small_records(count))
        description = "~200-byte JSON payloads, 3 metadata keys"
    elif name == "nova":
        count = args.nova or sizes.nova
        path = workloads.nova_path(args.nova_data)
        if not path.exists():
            print(f"\n## nova: skipped, {path} not found (--nova-data or SHOEBOX_SHARED_DATA)")
            return None
        records = workloads.nova_records(count, path)
        description = f"OpenStack notifications cycled from {path.name}, 4 metadata keys"
    else:
        raise SystemExit(f"unknown workload {name!r}: expected small or nova")
    payload = sum(len(p.encode()) for _m, p in records)
    description = (f"{len(records):,} records, {payload / len(records):,.0f} B payloads on "
                   f"average ({payload / MB:,.1f} MB), " + description)
    return Workload(name, records, description, payload)


if __name__ == "__main__":
    sys.exit(main())
