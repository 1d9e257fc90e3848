"""Installed for real: the core and shoebox-timecheck pip-installed into a fresh virtualenv.

Slow (it builds both distributions); it proves that the entry point, the packaging and the
attribution of strategies to distributions work outside this source tree. pip builds a local
directory in place, and setuptools' ``build/`` keeps modules deleted since, so the tree is first
copied without its build products.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMECHECK = REPO / "plugins" / "shoebox_timecheck"

_PROBE = """
import json
import shoebox_timecheck
from shoebox_core.plugin import get_plugin_manager

manager = get_plugin_manager()
checker = manager.create_roll_checker("time", roll_minutes="15")
(time,) = [i for i in manager.strategies("roll_checker") if i.name == "time"]
print(json.dumps({
    "is_time_checker": isinstance(checker, shoebox_timecheck.TimeRollChecker),
    "roll_minutes": checker.roll_minutes,
    "time": [time.distribution, time.version],
    "origins": sorted({i.origin for i in manager.strategies()}),
    "failures": [str(f) for f in manager.failures],
    "conflicts": [str(c) for c in manager.conflicts],
    "files": [shoebox_timecheck.__file__, __import__("shoebox_core").__file__],
}))
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding the core and shoebox-timecheck, installed from the
    source tree (not editable)."""
    root = tmp_path_factory.mktemp("install")
    created = _run([sys.executable, "-m", "venv", str(root / "venv")], root)
    assert created.returncode == 0, f"python -m venv failed:\n{created.stderr}"
    python = root / "venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    source = root / "source"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__")
    shutil.copytree(REPO, source, ignore=ignore)
    plugin = source / TIMECHECK.relative_to(REPO)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    installed = _run([*pip, str(source), str(plugin)], root)
    assert installed.returncode == 0, (
        f"pip install {REPO} {TIMECHECK} (copied to {source}) failed "
        f"(exit {installed.returncode}):\n"
        f"{installed.stdout[-4000:]}\n{installed.stderr[-4000:]}"
    )
    return python


def test_time_checker_comes_from_the_installed_shoebox_timecheck(venv_python: Path) -> None:
    probe = _run([str(venv_python), "-c", _PROBE], venv_python.parents[2])
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["is_time_checker"] is True and result["roll_minutes"] == 15
    assert result["time"] == ["shoebox-timecheck", "0.1.0"]
    assert result["origins"] == ["shoebox-core 0.1.0", "shoebox-timecheck 0.1.0"]
    assert result["failures"] == [] and result["conflicts"] == []
    for path in result["files"]:
        assert "site-packages" in path, path


def test_the_testing_helpers_ship_with_the_core(venv_python: Path) -> None:
    # Plugin authors test against an installed shoebox-core (importing it needs pytest, which
    # this venv lacks, so look for the files).
    code = (
        "import pathlib, shoebox_core\n"
        "package = pathlib.Path(shoebox_core.__file__).parent\n"
        "print(sorted(p.name for p in (package / 'testing').glob('*.py')))\n"
    )
    probe = _run([str(venv_python), "-c", code], venv_python.parents[2])
    assert probe.returncode == 0, probe.stderr
    shipped = probe.stdout.strip()
    for module in ("__init__.py", "checkers.py", "plugins.py"):
        assert module in shipped, f"shoebox_core/testing/{module} is not installed: {shipped}"
