"""The whole job: the same JSON events turned into rolled, compressed files, by each contestant.

shoebox's rows come from the pipeline figure of ``compare.py`` (zstd and gzip compression of every
sealed file by the writer's background worker); the others are what users would pick instead:

- ``logging.handlers.RotatingFileHandler`` with a gzip rotator (the Python logging cookbook's
  recipe: ``namer`` adds ``.gz``, ``rotator`` compresses and removes the rolled file);
- ``loguru`` with ``rotation`` by size and ``compression="gz"`` (it leaves the last file as it is
  when the sink is removed: the job gzips it by hand);
- ``concurrent-log-handler``'s ``ConcurrentRotatingFileHandler(use_gzip=True)`` (a lock file per
  record, so several processes may share the log).

Each logger writes one line per event (its JSON payload; shoebox stores the metadata too) and
rolls at the same size as shoebox. The time runs until every file is compressed: the loggers
only compress a file when they roll it, so the last one is rolled by hand before the clock
stops. Gzip at level 6 wherever the contestant lets us choose it (shoebox's GzipCallback, the
cookbook rotator); loguru's "gz" and concurrent-log-handler use the gzip module's default, 9.
"""

from __future__ import annotations

import gzip
import logging
import logging.handlers
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JOBS", "Job", "run_jobs"]

Record = tuple[dict[str, str], str]


@dataclass
class Job:
    """One contestant's whole-job figure."""

    name: str
    seconds: float = float("inf")
    files: int = 0
    size: int = 0


def _quiet_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"shoebox-bench.{name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler.setFormatter(logging.Formatter("%(message)s"))
    return logger


def _gzip_rotator(source: str, dest: str) -> None:
    with open(source, "rb") as plain, gzip.open(dest, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(plain, packed, 1 << 20)
    os.remove(source)


def rotating_file_handler(records: Sequence[Record], directory: str, roll_bytes: int) -> None:
    handler = logging.handlers.RotatingFileHandler(
        os.path.join(directory, "events.log"), maxBytes=roll_bytes, backupCount=100_000,
        encoding="utf-8",
    )
    handler.namer = lambda name: name + ".gz"
    handler.rotator = _gzip_rotator
    logger = _quiet_logger("rfh", handler)
    info = logger.info
    for _metadata, payload in records:
        info(payload)
    handler.doRollover()  # the last file is compressed too
    handler.close()
    os.remove(os.path.join(directory, "events.log"))  # the empty file the roll reopened


def loguru_sink(records: Sequence[Record], directory: str, roll_bytes: int) -> None:
    from loguru import logger

    logger.remove()
    sink = logger.add(os.path.join(directory, "events.log"), format="{message}",
                      rotation=roll_bytes, compression="gz", enqueue=False, catch=False,
                      colorize=False, backtrace=False, diagnose=False)
    info = logger.info
    for _metadata, payload in records:
        info(payload)
    logger.remove(sink)
    # loguru compresses a file when it rolls it, not when the sink is removed: the last one by
    # hand, as loguru's "gz" would (gzip's default level, 9).
    last = os.path.join(directory, "events.log")
    if os.path.getsize(last):
        with open(last, "rb") as plain, gzip.open(last + ".gz", "wb") as packed:
            shutil.copyfileobj(plain, packed, 1 << 20)
    os.remove(last)


def concurrent_log_handler(records: Sequence[Record], directory: str, roll_bytes: int) -> None:
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    handler = ConcurrentRotatingFileHandler(
        os.path.join(directory, "events.log"), maxBytes=roll_bytes, backupCount=100_000,
        use_gzip=True, encoding="utf-8", lock_file_directory=os.path.join(directory, ".lock"),
    )
    logger = _quiet_logger("clh", handler)
    info = logger.info
    for _metadata, payload in records:
        info(payload)
    handler.doRollover()
    handler.close()
    for leftover in ("events.log",):
        path = os.path.join(directory, leftover)
        if os.path.exists(path) and not os.path.getsize(path):
            os.remove(path)


JOBS: tuple[tuple[str, Callable[[Sequence[Record], str, int], None]], ...] = (
    ("RotatingFileHandler+gzip", rotating_file_handler),
    ("loguru gz", loguru_sink),
    ("concurrent-log-handler", concurrent_log_handler),
)


def _compressed(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.rglob("*") if p.is_file() and p.name.endswith(".gz")]
    return len(files), sum(p.stat().st_size for p in files)


def run_jobs(records: Sequence[Record], root: Path, runs: int, roll_bytes: int) -> list[Job]:
    """Time each contestant of :data:`JOBS` (wall clock, best of ``runs``); a contestant whose
    package is not installed is left out with a note."""
    found = []
    for name, job in JOBS:
        best = Job(name)
        for run in range(runs):
            directory = root / f"job-{name.replace(' ', '-')}-{run}"
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            start = time.perf_counter()
            try:
                job(records, str(directory), roll_bytes)
            except ImportError as exc:
                print(f"  whole job: {name} skipped ({exc.name} is not installed)")
                shutil.rmtree(directory, ignore_errors=True)
                break
            seconds = time.perf_counter() - start
            files, size = _compressed(directory)
            if seconds < best.seconds:
                best = Job(name, seconds, files, size)
            if run == 0:
                _check(name, directory, records)
            shutil.rmtree(directory, ignore_errors=True)
        else:
            found.append(best)
    return found


def _check(name: str, directory: Path, records: Sequence[Record]) -> None:
    """Every event is in the compressed files, once, and nothing is left uncompressed."""
    lines = 0
    for path in directory.rglob("*"):
        if not path.is_file() or path.parent.name == ".lock" or path.name.endswith(".lock"):
            continue
        if not path.name.endswith(".gz"):
            raise SystemExit(f"whole job {name}: {path.name} was left uncompressed")
        with gzip.open(path, "rt", encoding="utf-8") as text:
            lines += sum(1 for _line in text)
    if lines != len(records):
        raise SystemExit(f"whole job {name}: {lines} lines in the compressed files, "
                         f"{len(records)} events")
