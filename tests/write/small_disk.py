"""Run a Python snippet on a small, real tmpfs (a full disk for the tests), as root or not.

The snippet runs in a child process that mounts a private tmpfs of ``size`` bytes at a fresh
directory and gets its path as ``DISK``. Ways tried, in order: a user and mount namespace
(``unshare -rm``: any user where unprivileged user namespaces are allowed, as on Debian and
most CI images), a mount namespace as root (``unshare -m``), a plain mount as root (unmounted
afterwards). None working is a test failure that says so, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

_MOUNT = """
import json, os, subprocess, sys
disk, size, code = sys.argv[1], sys.argv[2], sys.argv[3]
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", disk],
                         capture_output=True, text=True)
if mounted.returncode:
    sys.stderr.write("mount: " + mounted.stderr)
    sys.exit(97)  # this way cannot mount: the caller tries the next
try:
    namespace = {"DISK": disk, "__name__": "__small_disk__"}
    exec(compile(code, "<small-disk snippet>", "exec"), namespace)
finally:
    if os.environ.get("SMALL_DISK_UNMOUNT"):
        subprocess.run(["umount", "-l", disk], check=False)
"""


def _launchers() -> list[tuple[list[str], dict[str, str]]]:
    ways: list[tuple[list[str], dict[str, str]]] = []
    unshare = shutil.which("unshare")
    if unshare:
        ways.append(([unshare, "-rm", "--propagation", "private"], {}))
        if os.geteuid() == 0:
            ways.append(([unshare, "-m", "--propagation", "private"], {}))
    if os.geteuid() == 0:
        ways.append(([], {"SMALL_DISK_UNMOUNT": "1"}))
    return ways


def run_on_small_disk(code: str, *, size: int = 1024 * 1024, timeout: float = 120) -> dict:
    """Run ``code`` (it may ``print`` one JSON object as its last line, returned) with ``DISK``
    the path of a tmpfs of ``size`` bytes; raises AssertionError with every way's error."""
    failures = []
    for prefix, env in _launchers():
        disk = tempfile.mkdtemp(prefix="shoebox-small-disk-")
        try:
            result = subprocess.run(
                [*prefix, sys.executable, "-c", _MOUNT, disk, str(size), textwrap.dedent(code)],
                capture_output=True, text=True, timeout=timeout, env={**os.environ, **env},
            )
        finally:
            try:
                os.rmdir(disk)
            except OSError:
                pass
        if result.returncode == 0:
            lines = result.stdout.strip().splitlines()
            return json.loads(lines[-1]) if lines else {}
        failures.append(f"{' '.join(prefix) or 'mount'}: exit {result.returncode}\n"
                        f"{result.stderr[-3000:]}")
        if result.returncode != 97 and not result.stderr.startswith("unshare:"):
            break  # the snippet itself failed: no point trying another way
    raise AssertionError("could not run on a small tmpfs:\n" + "\n".join(failures))
