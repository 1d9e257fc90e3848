"""The test suite's own layout: tests mirror the package, every plugin's tests are collected, and
the README's test command is the one CI runs.

pytest imports a test file as a module of its package when its folder has an ``__init__.py``
(``tests.write.test_writer``), else under its bare name, with its folder on ``sys.path``. The core's
folders are packages, so their files may share names; the plugins' ``tests`` folders are not (a
second package named ``tests`` would clash with ours), so their file names must be unique.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (the core depends on tomli there)
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "shoebox_core"
# Subpackages whose tests live elsewhere: the test helpers are exercised by every suite that
# subclasses their contracts (here and in plugins/*/tests).
NOT_MIRRORED = {"testing"}


def _pyproject(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def _plugin_dirs() -> list[Path]:
    return sorted(p.parent for p in REPO.glob("plugins/*/pyproject.toml"))


def test_tests_mirror_the_subpackages_of_shoebox_core() -> None:
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - NOT_MIRRORED
    folders = {p.parent.name for p in (REPO / "tests").glob("*/__init__.py")}
    assert subpackages, "no subpackage found: is PACKAGE right?"
    assert folders == subpackages, (
        f"tests/ has no folder for {sorted(subpackages - folders)}; "
        f"folders without a subpackage: {sorted(folders - subpackages)}"
    )


def test_every_core_test_folder_is_a_package() -> None:
    for path in (REPO / "tests").rglob("test_*.py"):
        folder = path.parent
        while folder != REPO:
            assert (folder / "__init__.py").exists(), (
                f"{folder.relative_to(REPO)} has no __init__.py: {path.name} would be imported "
                "under its bare name and clash with a file of the same name elsewhere"
            )
            folder = folder.parent


def test_the_core_s_tests_use_the_fixtures_plugin_authors_get() -> None:
    import shoebox_core.testing as testing

    offered = {"fake_clock", "recorder", "recorder_cls", "shared_data", "nova_records",
               "plugin_manager", "hook_recorder"}
    assert offered <= set(testing.__all__), offered - set(testing.__all__)
    conftest = ast.parse((REPO / "tests" / "conftest.py").read_text())
    defined = {node.name for node in ast.walk(conftest) if isinstance(node, ast.FunctionDef)}
    assert not defined & offered, f"tests/conftest.py redefines {sorted(defined & offered)}"
    for path in (REPO / "tests").rglob("*.py"):
        classes = {node.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ClassDef)}
        assert not classes & {"RecordingCallback", "FakeClock"}, f"{path}: a second one"


@pytest.mark.parametrize("plugin", _plugin_dirs(), ids=lambda p: p.name)
def test_each_plugin_carries_its_own_tests_as_a_distribution(plugin: Path) -> None:
    tests = plugin / "tests"
    assert sorted(tests.glob("test_*.py")), f"{plugin.name} has no tests in {tests}"
    assert not (tests / "__init__.py").exists(), (
        f"{tests.relative_to(REPO)}/__init__.py would make a second package named 'tests'"
    )
    project = _pyproject(plugin / "pyproject.toml")
    assert "test" in project["project"].get("optional-dependencies", {}), (
        f"{plugin.name}'s pyproject.toml has no 'test' extra"
    )
    # Run from its own folder (`cd plugins/NAME && pytest`), a plugin finds its tests alone.
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_the_root_testpaths_collect_every_plugin_s_tests() -> None:
    testpaths = _pyproject(REPO / "pyproject.toml")["tool"]["pytest"]["ini_options"]["testpaths"]
    found = {path.resolve() for pattern in testpaths for path in REPO.glob(pattern)}
    for plugin in _plugin_dirs():
        assert (plugin / "tests").resolve() in found, f"{plugin.name}'s tests are not collected"
    assert (REPO / "tests").resolve() in found


def test_plugin_test_files_have_unique_names() -> None:
    owners: dict[str, list[str]] = {}
    for plugin in _plugin_dirs():
        for path in (plugin / "tests").glob("*.py"):
            if path.name != "conftest.py":
                owners.setdefault(path.stem, []).append(plugin.name)
    clashes = {name: where for name, where in owners.items() if len(where) > 1}
    assert owners and not clashes, f"test modules named alike in several plugins: {clashes}"


def test_ci_runs_exactly_the_readme_s_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in re.search(r"```bash\n(.*?)```", section, re.S).group(1)
                .splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2, commands
    ci = (REPO / ".ci" / "run").read_text()
    marker = "# --- the README's test command, verbatim ---\n"
    assert marker in ci
    assert ci.split(marker, 1)[1].splitlines()[0] == commands[1]
    # The command installs every plugin whose tests it collects.
    for plugin in _plugin_dirs():
        installs = re.findall(r"-e '?\./plugins/([\w-]+)", commands[1])
        assert plugin.name in installs, (
            f"README's test command does not install {plugin.name}, whose tests it runs"
        )


# -- what a package index shows: metadata and README links --------------------------------------

_DISTRIBUTIONS = sorted(p.parent for p in [REPO / "pyproject.toml",
                                           *REPO.glob("plugins/*/pyproject.toml"),
                                           *REPO.glob("examples/*/pyproject.toml")])


@pytest.mark.parametrize("project_dir", _DISTRIBUTIONS, ids=lambda p: p.name)
def test_every_distribution_declares_its_license_urls_and_classifiers(project_dir: Path) -> None:
    data = _pyproject(project_dir / "pyproject.toml")
    project = data["project"]
    # An SPDX expression (PEP 639), not the deprecated table; the license text ships with it.
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"] and (project_dir / "LICENSE").is_file()
    assert not any(c.startswith("License ::") for c in project["classifiers"])
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in project["classifiers"])
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
    requires = " ".join(data["build-system"]["requires"])
    assert re.search(r"setuptools>=(7[7-9]|[89]\d)", requires), requires  # PEP 639 support


def test_readme_links_work_once_rendered_on_a_package_index() -> None:
    """A README shown on an index has no repository around it: every link is absolute, and each
    link into this repository names a file that exists."""
    base = _pyproject(REPO / "pyproject.toml")["project"]["urls"]["Homepage"].rstrip("/")
    for project_dir in _DISTRIBUTIONS:
        readme = project_dir / _pyproject(project_dir / "pyproject.toml")["project"]["readme"]
        for target in re.findall(r"\]\(([^)\s]+)\)", readme.read_text()):
            where = f"{readme.relative_to(REPO)}: ({target})"
            assert target.startswith(("https://", "http://", "#", "mailto:")), \
                f"{where} is relative: it breaks on a package index"
            if target.startswith(base + "/blob/main/"):
                path = target[len(base + "/blob/main/"):].split("#")[0]
                assert (REPO / path).exists(), f"{where} names no file of the repository"
