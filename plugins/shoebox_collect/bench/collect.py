"""Benchmark: staging and collecting many small files, shoebox-collect against the alternatives.

    python plugins/shoebox_collect/bench/collect.py [--workers 8] [--files 20000] [--quick]

Each contender runs the same job in one run, on the same file contents (1-20 KB of text-like
bytes each): ``--workers`` processes, all started at once, stage ``--files`` files in total into
one base directory, then one collector merges them into a deflated zip file. Printed side by side:
files per second staged (wall clock, all workers) and collected (files that reached the final
archive, per second of the collector), the peak RSS of the largest
worker and of the collector, and files lost (expected files missing from the final archive).

Contenders:

- ``shoebox-collect``: ``Inbox.put`` in each worker, ``collect()``; each closed file is handed
  to the OS at once (it survives the worker being killed).
- ``shoebox-collect batch``: the same with ``Inbox(durability="batch")`` (closed files written a
  block at a time, at least every second).
- ``rear-style``: what rear does, written here from its documented behaviour (not its code): each
  worker buffers a file whole and writes it into a temporary zip named after the host and the
  second it was opened (``zipfile``, append mode); a scavenger reads each entry whole and copies it
  into the final zip, then deletes the temporary zip. Workers started in the same second open the
  same temporary zip: that is rear's collision, and it shows as files lost.
- ``plain files + zipfile``: each worker writes its files straight to the file system; the
  collector zips them with ``ZipFile.write``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import random
import resource
import shutil
import socket
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

# Imported before the workers fork, as the other contenders' zipfile is: imports are not timed.
import shoebox_collect  # noqa: E402,F401

_WORDS = (b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
          b"incididunt ut labore et dolore magna aliqua 0123456789 step= value= energy= ").split()


def _pool() -> bytes:
    rng = random.Random(7)
    return b" ".join(rng.choice(_WORDS) for _ in range(40_000))


POOL = _pool()


def content(worker: int, n: int) -> bytes:
    """File ``n`` of ``worker``: 1-20 KB of text-like bytes, unique by its header."""
    rng = random.Random(worker * 1_000_003 + n)
    size = rng.randint(1000, 20_000)
    start = rng.randrange(len(POOL) - size)
    return f"worker {worker} file {n}\n".encode() + POOL[start : start + size]


def name(worker: int, n: int) -> str:
    """The entry name of file ``n`` of ``worker``."""
    return f"w{worker}/run/f{n:06d}.txt"


# -- contenders: one staging function per worker, one collecting function -------------------
def shoebox_stage(base: str, worker: int, count: int, durability: str = "close") -> None:
    from shoebox_collect import Inbox

    with Inbox(base, durability=durability) as inbox:
        for n in range(count):
            inbox.put("final.zip/" + name(worker, n), content(worker, n))


def shoebox_stage_batched(base: str, worker: int, count: int) -> None:
    shoebox_stage(base, worker, count, "batch")


COMPRESSION = {"name": "stored"}  # set by --compression, for every contender's collector


def _zip_compression() -> int:
    return zipfile.ZIP_DEFLATED if COMPRESSION["name"] == "deflate" else zipfile.ZIP_STORED


def shoebox_collect_all(base: str) -> None:
    from shoebox_collect import collect

    report = collect(base, compression=COMPRESSION["name"])
    if report.errors:
        raise SystemExit(f"collect failed: {report.errors}")


def rear_stage(base: str, worker: int, count: int, unique: bool = False) -> None:
    temp = os.path.join(base, "inbox")
    os.makedirs(temp, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%y%m%d_%H%M%S")
    who = f"{socket.gethostname()}.{os.getpid()}" if unique else socket.gethostname()
    # As rear: a new temporary zip named by host and second, stored entries, each file buffered
    # whole first; a name already in the zip is dropped.
    with zipfile.ZipFile(os.path.join(temp, f"{who}-{stamp}.zip"), "w") as zf:
        for n in range(count):
            buffer = io.BytesIO()
            buffer.write(content(worker, n))
            if zf.NameToInfo.get(name(worker, n)) is None:
                zf.writestr(name(worker, n), buffer.getbuffer())


def rear_stage_unique(base: str, worker: int, count: int) -> None:
    rear_stage(base, worker, count, unique=True)


def rear_collect(base: str) -> None:
    temp = os.path.join(base, "inbox")
    with zipfile.ZipFile(os.path.join(base, "final.zip"), "a", _zip_compression()) as final:
        for entry in sorted(os.listdir(temp)):
            path = os.path.join(temp, entry)
            try:
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        if final.NameToInfo.get(info.filename) is None:
                            final.writestr(info.filename, zf.read(info))
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
                # Two workers wrote this one at once; rear runs `zip -FF` on such files and
                # keeps what that salvages. Counted as lost, whatever could have been saved.
                continue
            os.unlink(path)


def real_rear_stage(base: str, worker: int, count: int) -> None:
    import builtins

    import trio
    from rear import rear_fs

    async def stage() -> None:
        async with rear_fs(base):
            rear_open = builtins.rear_open  # type: ignore[attr-defined]
            for n in range(count):
                with rear_open("final.zip/" + name(worker, n), "w+b") as f:
                    f.write(content(worker, n))

    trio.run(stage)


def _quiet() -> None:
    # rear's scavenger prints a line per entry it cannot read: thousands after a collision.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
    sys.stderr = sys.stdout


def real_rear_collect(base: str) -> None:
    from rear.scavenger import try_scan_once

    _quiet()
    try_scan_once(base, flush=True)


def plain_stage(base: str, worker: int, count: int) -> None:
    for n in range(count):
        path = os.path.join(base, "files", name(worker, n))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content(worker, n))


def plain_collect(base: str) -> None:
    root = os.path.join(base, "files")
    with zipfile.ZipFile(os.path.join(base, "final.zip"), "w", _zip_compression()) as final:
        for folder, _, files in sorted(os.walk(root)):
            for entry in sorted(files):
                path = os.path.join(folder, entry)
                final.write(path, os.path.relpath(path, root))
                os.unlink(path)


CONTENDERS: dict[str, tuple[Callable[..., None], Callable[[str], None]]] = {
    "shoebox-collect": (shoebox_stage, shoebox_collect_all),
    "shoebox-collect batch": (shoebox_stage_batched, shoebox_collect_all),
    "rear 0.1.2": (real_rear_stage, real_rear_collect),
    "rear-style": (rear_stage, rear_collect),
    "rear-style, unique names": (rear_stage_unique, rear_collect),
    "plain files + zipfile": (plain_stage, plain_collect),
}


def _have_rear() -> bool:
    try:
        import rear  # noqa: F401
    except ImportError:
        return False
    return True


# -- measuring -----------------------------------------------------------------------------
def _worker(stage: Callable[..., None], base: str, worker: int, count: int, start: float,
            rss: Any) -> None:
    time.sleep(max(0.0, start - time.time()))  # every worker starts in the same instant
    try:
        stage(base, worker, count)
    finally:
        rss.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _collector(collect: Callable[[str], None], base: str, rss: Any) -> None:
    try:
        collect(base)
    finally:
        rss.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run(label: str, workers: int, files: int, root: str) -> dict[str, float]:
    """Run one contender; returns its figures."""
    stage, collect = CONTENDERS[label]
    base = os.path.join(root, label.replace(" ", "_"))
    os.makedirs(base)
    per = [files // workers + (1 if w < files % workers else 0) for w in range(workers)]
    ctx = mp.get_context("fork")
    rss = ctx.Queue()
    start = time.time() + 0.5
    procs = [ctx.Process(target=_worker, args=(stage, base, w, per[w], start, rss))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"{label}: a worker failed ({proc.exitcode})")
    staged = time.time() - start
    worker_rss = max(rss.get() for _ in procs)
    began = time.time()
    proc = ctx.Process(target=_collector, args=(collect, base, rss))
    proc.start()
    proc.join()
    collected = time.time() - began
    collector_rss = rss.get()
    held: set[str] = set()
    if os.path.exists(os.path.join(base, "final.zip")):
        with zipfile.ZipFile(os.path.join(base, "final.zip")) as zf:
            held = set(zf.namelist())
    lost = sum(1 for w in range(workers) for n in range(per[w]) if name(w, n) not in held)
    collected_files = files - lost
    shutil.rmtree(base)
    return {"staged": files / staged, "collected": collected_files / collected,
            "worker_rss": worker_rss / 1024, "collector_rss": collector_rss / 1024, "lost": lost}  # type: ignore[dict-item]


def main(argv: list[str] | None = None) -> int:
    """Run every contender and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 files (a smoke run)")
    parser.add_argument("--dir", help="where to work (default: a temporary directory)")
    parser.add_argument("--compression", choices=("stored", "deflate"), default="stored",
                        help="how every collector stores entries (default: stored, as rear)")
    args = parser.parse_args(argv)
    COMPRESSION["name"] = args.compression
    files = 2_000 if args.quick else args.files
    labels = [label for label in CONTENDERS if label != "rear 0.1.2" or _have_rear()]
    root = tempfile.mkdtemp(prefix="shoebox-collect-bench-", dir=args.dir)
    try:
        results = {label: run(label, args.workers, files, root) for label in labels}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.workers} workers, {files} files of 1-20 KB, {args.compression}; Python "
          f"{sys.version.split()[0]}")
    print(f"{'contender':24} {'staged/s':>10} {'collected/s':>12} {'worker RSS':>11} "
          f"{'collector RSS':>14} {'lost':>6}")
    for label, r in results.items():
        print(f"{label:24} {r['staged']:10.0f} {r['collected']:12.0f} "
              f"{r['worker_rss']:9.0f}MB {r['collector_rss']:12.0f}MB {r['lost']:6d}")
    for rear in ("rear 0.1.2", "rear-style", "rear-style, unique names"):
        if rear not in results:
            continue
        theirs = results[rear]
        for label in ("shoebox-collect", "shoebox-collect batch"):
            ours = results[label]
            collected = (f"{ours['collected'] / theirs['collected']:.1f}x"
                         if theirs["collected"] else f"n/a ({rear} lost every file)")
            print(f"{label} vs {rear}: staging {ours['staged'] / theirs['staged']:.1f}x, "
                  f"collection {collected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
