"""Run a job in a forked process that SIGKILLs itself at its Nth step (a test harness).

A step is any call that changes files: a write, fsync, rename, link, unlink or truncate, a zip
entry's write or a zip file's central directory. With N = 0 nothing is killed and the number of
steps is returned, so a test can aim at every one of them. Forked rather than started afresh:
the same real process death, without an interpreter start per kill point.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import zipfile
from dataclasses import dataclass
from typing import Any, Callable

_OS_STEPS = ("write", "writev", "fsync", "rename", "replace", "link", "unlink", "ftruncate")


@dataclass
class Ended:
    """How the job ended: ``status`` (0, 1 for an exception, or -9), what it printed, and the
    number of steps it took (known when it was not killed)."""

    status: int
    output: str
    steps: int | None


def _install(target: int, counter: list[int]) -> None:
    def counted(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def step(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            if counter[0] == target:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        setattr(owner, name, step)

    for name in _OS_STEPS:
        counted(os, name)
    counted(zipfile._ZipWriteFile, "write")  # type: ignore[attr-defined]
    counted(zipfile.ZipFile, "_write_end_record")


def run_killed(step: int, job: Callable[..., Any], *args: Any) -> Ended:
    """Run ``job(*args)`` in a child process killed at its ``step``-th step (0: never)."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            os.close(read_end)
            sys.stdout = os.fdopen(write_end, "w", buffering=1)
            counter = [0]
            _install(step, counter)
            job(*args)
            print(f"steps {counter[0]}")
        except BaseException:
            traceback.print_exc(file=sys.stdout)
            status = 1
        finally:
            sys.stdout.flush()
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as output:
        text = output.read()
    _, raw = os.waitpid(pid, 0)
    status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
    steps = None
    if status == 0:
        steps = int(text.strip().splitlines()[-1].split()[1])
    return Ended(status, text, steps)
