"""Installed for real: the core and shoebox-timecheck pip-installed into a fresh virtualenv.

Slow (it builds both distributions); it proves that the entry point, the packaging and the
attribution of strategies to distributions work outside this source tree. pip builds a local
directory in place, and setuptools' ``build/`` keeps modules deleted since, so the tree is first
copied without its build products.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

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


# -- every install line the documentation gives ------------------------------------------------

_DOCUMENTS = ["README.md", "plugins/*/README.md", "examples/*/README.md", "docs/*.md"]
_OWN = "shoebox-"  # our distributions: no package index serves them to a user of a clone


@dataclass(frozen=True)
class InstallLine:
    """One ``pip install`` line of a fenced code block: where it is, the directory it runs in
    (the README's own when it climbs out with ``../``, else the repository's root) and its
    requirements (local projects as ``(path, extras)``, the rest as given)."""

    where: str
    cwd: Path
    projects: tuple[tuple[Path, tuple[str, ...]], ...]
    names: tuple[str, ...]


def _fenced_lines(text: str) -> list[tuple[int, str]]:
    found, inside = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            found.append((number, line))
    return found


def install_lines() -> list[InstallLine]:
    """Every ``pip install`` line of a code block in the repository's READMEs and docs."""
    lines = []
    for pattern in _DOCUMENTS:
        for document in sorted(REPO.glob(pattern)):
            for number, line in _fenced_lines(document.read_text()):
                # A command: `pip install ...`, `.venv/bin/pip install ...`, after `&&` too.
                commands = [m.group(1) for part in re.split(r"\s(?:&&|;|\|)\s", line)
                            if (m := re.match(r"\s*(?:\S*/)?(?:python3? -m )?pip3? install (.*)",
                                              part))]
                if not commands:
                    continue
                command = commands[0]
                words = [w for w in shlex.split(command, comments=True) if not w.startswith("-")]
                cwd = document.parent if any(w.startswith("..") for w in words) else REPO
                projects, names = [], []
                for word in words:
                    path, _, extras = word.partition("[")
                    if path.startswith((".", "/")) or "/" in path:
                        extra = tuple(e.strip() for e in extras.rstrip("]").split(",") if e)
                        projects.append(((cwd / path).resolve(), extra))
                    else:
                        names.append(word)
                where = f"{document.relative_to(REPO)}:{number}"
                lines.append(InstallLine(where, cwd, tuple(projects), tuple(names)))
    return lines


def _project(path: Path) -> dict:
    with open(path / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _own_requirements(project: dict, extras: tuple[str, ...]) -> set[str]:
    wanted = list(project.get("dependencies", []))
    for extra in extras:
        wanted += project.get("optional-dependencies", {}).get(extra, [])
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in wanted
            if r.lower().startswith(_OWN)}


def test_the_documents_give_install_lines() -> None:
    where = {line.where.split(":")[0] for line in install_lines()}
    assert "README.md" in where
    for plugin in sorted(REPO.glob("plugins/*/README.md")):
        assert str(plugin.relative_to(REPO)) in where, f"{plugin} gives no install line"


@pytest.mark.parametrize("line", install_lines(), ids=lambda line: line.where)
def test_each_install_line_is_complete_from_a_clone(line: InstallLine) -> None:
    """Every path exists and is a project, every extra is declared, no line names one of our
    distributions by name (no index serves it), and every distribution of ours that a project
    of the line needs is in the line (``pip install ./plugins/shoebox_s3`` alone cannot find
    shoebox-core)."""
    assert line.projects or line.names, f"{line.where}: nothing to install"
    for name in line.names:
        assert not name.lower().startswith(_OWN), (
            f"{line.where}: {name!r} is not served by a package index; give its path "
            "(pip install ./plugins/...)")
    given = {}
    for path, extras in line.projects:
        assert (path / "pyproject.toml").exists(), f"{line.where}: {path} is not a project"
        project = _project(path)
        declared = project.get("optional-dependencies", {})
        for extra in extras:
            assert extra in declared, f"{line.where}: {project['name']} has no extra {extra!r}"
        given[project["name"].lower()] = (project, extras)
    for name, (project, extras) in given.items():
        missing = _own_requirements(project, extras) - set(given)
        assert not missing, (f"{line.where}: {name} needs {sorted(missing)}, which the line "
                             "does not install (add its path, e.g. '.' for shoebox-core)")


def test_every_install_line_resolves_together(tmp_path: Path) -> None:
    """One ``pip install --dry-run`` of every line's requirements at once, in a fresh venv: a
    set of versions satisfying all of them satisfies each line (the issue's failing line was
    s3fs against moto's botocore), at the price of one resolution instead of one per line."""
    projects: dict[Path, set[str]] = {}
    names: set[str] = set()
    for line in install_lines():
        for path, extras in line.projects:
            projects.setdefault(path, set()).update(extras)
        names.update(line.names)
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                    "*.so")
    shutil.copytree(REPO, source, ignore=ignore)
    requirements = [
        str(source / path.relative_to(REPO)) + (f"[{','.join(sorted(extras))}]" if extras else "")
        for path, extras in sorted(projects.items())
    ]
    created = _run([sys.executable, "-m", "venv", str(tmp_path / "venv")], tmp_path)
    assert created.returncode == 0, created.stderr
    python = tmp_path / "venv" / "bin" / "python"
    resolved = _run([str(python), "-m", "pip", "install", "--dry-run", "-q",
                     "--disable-pip-version-check", *requirements, *sorted(names)], tmp_path)
    assert resolved.returncode == 0, (
        f"the documented install lines do not resolve together:\n{resolved.stderr[-4000:]}")
