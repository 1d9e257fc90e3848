"""The format, writer and reader tests, run again on the pure-Python codec.

The rest of the suite runs on the compiled codec (:mod:`shoebox_core.format._native`) when it is
built. The pure-Python path is what a machine without a C compiler gets, and what
``SHOEBOX_PURE_PYTHON=1`` selects: the modules below are rerun under it in a child pytest, so the
README's single test command covers both paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BOTH_WAYS = [
    "format/test_codec.py",
    "format/test_format_v2.py",
    "format/test_fuzz.py",
    "format/test_format_api.py",
    "read/test_reader.py",
    "write/test_writer.py",
    "write/test_writer_batching.py",
    "write/test_writer_policy.py",
]


def test_format_writer_and_reader_tests_pass_on_the_pure_python_path(tmp_path):
    env = dict(os.environ, SHOEBOX_PURE_PYTHON="1")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         f"--basetemp={tmp_path / 'pure'}", *(str(HERE / name) for name in BOTH_WAYS)],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=1800,
    )
    output = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, f"on the pure-Python path:\n{output}"
    assert " passed" in done.stdout
