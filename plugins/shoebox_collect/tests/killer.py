"""Run a worker or a collector that SIGKILLs itself at its Nth step (a test harness script).

``python killer.py N stage BASE WORKER COUNT`` or ``python killer.py N collect BASE``. A step is
any call that changes files: a write, fsync, rename, link, unlink, truncate, a zip entry's write
or a zip file's central directory. With N = 0 nothing is killed and the number of steps is printed
last on stderr (``steps K``), so a test can aim at every one of them.
"""

from __future__ import annotations

import os
import signal
import sys
import zipfile

STEPS = 0


def _counted(owner: object, name: str) -> None:
    real = getattr(owner, name)
    target = int(sys.argv[1])

    def step(*args: object, **kwargs: object) -> object:
        global STEPS
        STEPS += 1
        if STEPS == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(owner, name, step)


for _name in ("write", "writev", "fsync", "rename", "replace", "link", "unlink", "ftruncate"):
    _counted(os, _name)
_counted(zipfile._ZipWriteFile, "write")  # type: ignore[attr-defined]
_counted(zipfile.ZipFile, "_write_end_record")

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from workers import stage

    if sys.argv[2] == "stage":
        stage(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), 300.0)
    else:
        from shoebox_collect import collect

        report = collect(sys.argv[3], max_archive_bytes=int(sys.argv[4]))
        print(report.summary(), flush=True)
    print(f"steps {STEPS}", file=sys.stderr, flush=True)
