"""The ``shoebox_subcommands`` hook: plugin distributions add ``shoebox`` subcommands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shoebox_core import plugin as plugins
from shoebox_core.cli.main import builtin_commands
from shoebox_core.plugin import Subcommand, hookimpl

HELLO = """
from shoebox_core.plugin import Subcommand, hookimpl
from shoebox_core.errors import ConfigError


def _hello(args):
    if args.who == "nobody":
        raise ConfigError("hello: nobody is not a name")
    print(f"hello {args.who}")
    return 7 if args.who == "seven" else None


@hookimpl
def shoebox_subcommands():
    yield Subcommand("hello", "Say hello to someone.", _hello,
                     lambda parser: parser.add_argument("who"))
"""

CLASH = """
from shoebox_core.plugin import Subcommand, hookimpl

@hookimpl
def shoebox_subcommands():
    yield Subcommand("verify", "Take over a built-in.", lambda args: 0)
    yield Subcommand("hello", "A second hello.", lambda args: 0)
"""


def _distribution(site: Path, dist: str, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[shoebox]\n{module} = {module}\n")


def _shoebox(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.run([sys.executable, "-m", "shoebox_core", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_plugin_subcommand_runs_is_listed_and_maps_errors_to_exit_status(tmp_path: Path) -> None:
    _distribution(tmp_path, "hello-shoebox", "shoebox_hello", HELLO)
    ran = _shoebox(tmp_path, "hello", "world")
    assert (ran.returncode, ran.stdout) == (0, "hello world\n"), ran.stderr
    assert _shoebox(tmp_path, "hello", "seven").returncode == 7
    bad = _shoebox(tmp_path, "hello", "nobody")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "shoebox hello: hello: nobody is not a name"
    helped = _shoebox(tmp_path, "--help")
    assert "Say hello to someone. [hello-shoebox]" in helped.stdout
    listed = _shoebox(tmp_path, "plugins", "--kind", "subcommand")
    assert listed.returncode == 0
    assert "hello" in listed.stdout and "hello-shoebox" in listed.stdout
    assert "Say hello to someone." in _shoebox(tmp_path, "plugins").stdout


def test_a_built_in_name_or_a_name_offered_twice_is_refused_and_reported(tmp_path: Path) -> None:
    _distribution(tmp_path, "hello-shoebox", "shoebox_hello", HELLO)
    _distribution(tmp_path, "clash-shoebox", "shoebox_clash", CLASH)
    listed = _shoebox(tmp_path, "plugins")
    assert listed.returncode == 0
    assert "subcommand 'hello' is offered by more than one plugin" in listed.stderr
    assert "hello-shoebox 1.0" in listed.stderr and "clash-shoebox 1.0" in listed.stderr
    assert "subcommand 'verify' is a built-in command of shoebox" in listed.stderr
    # Neither taker of 'hello' wins, and the built-in verify is still the core's.
    assert _shoebox(tmp_path, "hello", "x").returncode == 2
    verify_help = _shoebox(tmp_path, "verify", "--help").stdout
    assert "shoebox verify .archive" in verify_help.replace("'", ".")


def test_subcommand_is_validated() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        Subcommand("Bad Name", "x", lambda args: 0)
    with pytest.raises(TypeError, match="not callable"):
        Subcommand("ok", "x", "not a function")  # type: ignore[arg-type]


def test_the_manager_gathers_subcommands_with_their_origin() -> None:
    class Plugin:
        @hookimpl
        def shoebox_subcommands(self):  # type: ignore[no-untyped-def]
            return [Subcommand("tidy", "Tidy up.", lambda args: 0)]

    manager = plugins.fresh_plugin_manager(entry_points=False)
    manager.register(Plugin(), distribution="tidy-dist", version="3")
    ((subcommand, info),) = manager.subcommands(reserved=builtin_commands())
    assert (subcommand.name, info.origin, info.kind) == ("tidy", "tidy-dist 3", "subcommand")
    assert "write" in builtin_commands() and "tidy" not in builtin_commands()
