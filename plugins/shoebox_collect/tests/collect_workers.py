"""Worker and collector processes for the concurrency and crash tests (run as scripts).

``python collect_workers.py stage BASE WORKER COUNT [ROTATE [ARCHIVES]]``: stage COUNT files of
deterministic content (see :func:`content`) spread over ARCHIVES destinations, printing
``done NAME`` after each one is closed.
``python collect_workers.py collect BASE STOPFILE``: collect again and again until STOPFILE exists.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time


def content(worker: int, n: int) -> bytes:
    """The bytes of file ``n`` of ``worker``: 1-20 KB, different for every file."""
    rng = random.Random(worker * 1_000_003 + n)
    return rng.randbytes(rng.randint(1000, 20_000))


def archive(n: int, archives: int) -> str:
    """The destination archive of file ``n`` when files are spread over ``archives``."""
    return "out.zip" if n % archives == 0 else f"out{n % archives}.zip"


def expected(workers: int, count: int, archives: int = 1) -> dict[str, dict[str, str]]:
    """Archive -> entry name -> SHA-256 of every file the workers stage."""
    out: dict[str, dict[str, str]] = {}
    for w in range(workers):
        for n in range(count):
            out.setdefault(archive(n, archives), {})[f"w{w}/f{n:05d}.bin"] = (
                hashlib.sha256(content(w, n)).hexdigest()
            )
    return out


def stage(base: str, worker: int, count: int, rotate: float, archives: int = 1) -> None:
    from shoebox_collect import Inbox

    with Inbox(base, rotate_seconds=rotate) as inbox:
        for n in range(count):
            data = content(worker, n)
            dest = f"{archive(n, archives)}/w{worker}/f{n:05d}.bin"
            if n % 50 == 7:  # now and then a file of several chunks, written in pieces
                with inbox.open(dest, "wb") as f:
                    for start in range(0, len(data), 3000):
                        f.write(data[start : start + 3000])
            else:
                inbox.put(dest, data)
            print(f"done w{worker}/f{n:05d}.bin", flush=True)


def collect_until(base: str, stopfile: str) -> None:
    from shoebox_collect import collect

    while True:
        stop = os.path.exists(stopfile)
        report = collect(base, wait=30)
        print(f"collected {len(report.added)} present {len(report.present)} "
              f"renamed {len(report.renamed)} errors {report.errors}", flush=True)
        if stop:
            return
        time.sleep(0.05)


if __name__ == "__main__":
    if sys.argv[1] == "stage":
        rotate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.3
        archives = int(sys.argv[6]) if len(sys.argv) > 6 else 1
        stage(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), rotate, archives)
    else:
        collect_until(sys.argv[2], sys.argv[3])
