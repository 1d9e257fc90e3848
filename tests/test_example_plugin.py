"""The example plugin as a newcomer meets it: installed for real into a fresh virtualenv with the
core and shoebox-timecheck, then driven by the README's own commands through the ``shoebox``
script; its own test suite; and the code shown in docs/writing-plugins.md.

The venv test is slow (it builds three distributions). As in ``test_install_venv``, the tree is
copied without build products first, since pip builds a local directory in place.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "shoebox_example"
SECTION = "## Pipelines from a config file and the `shoebox` command"
INSTALL = ("python3 -m venv .venv && .venv/bin/pip install -e . -e ./plugins/shoebox_timecheck "
           "-e ./examples/shoebox_example")


def _run(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(kwargs.pop("env", {}))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
                          **kwargs)


def readme_commands() -> list[str]:
    """The command lines of the README's config walk-through, comments left out."""
    text = (REPO / "README.md").read_text()
    assert SECTION in text, "the README lost its config and command section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return [line for line in match.group(1).splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    """``(bin directory of a fresh venv, copy of the repository)``: the core, shoebox-timecheck and
    shoebox-example pip-installed (not editable) from the copy, which sits next to a ``shared``
    directory holding the sample data, as a fresh clone does."""
    root = tmp_path_factory.mktemp("example-plugin")
    source = root / "main"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                    "__pycache__", "demo-output", ".*_cache")
    shutil.copytree(REPO, source, ignore=ignore)
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(shared_data.resolve())
    created = _run([sys.executable, "-m", "venv", str(root / "venv")], root)
    assert created.returncode == 0, created.stderr
    bin_dir = root / "venv" / "bin"
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                      "--disable-pip-version-check", str(source),
                      str(source / "plugins" / "shoebox_timecheck"),
                      str(source / "examples" / "shoebox_example")], root)
    assert installed.returncode == 0, f"{installed.stdout[-4000:]}\n{installed.stderr[-4000:]}"
    return bin_dir, source


def test_the_readme_walkthrough_runs_with_the_installed_plugin(
    installed: tuple[Path, Path], nova_records: list[Any]
) -> None:
    bin_dir, source = installed
    install, *commands = readme_commands()
    assert install == INSTALL  # done above, without -e: the packaging is tested too
    results = []
    for command in commands:
        assert command.startswith(".venv/bin/shoebox "), command
        result = _run(["bash", "-o", "pipefail", "-c", command.replace(".venv/bin/",
                                                                       f"{bin_dir}/")], source)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr}"
        results.append(result)
    listing, check, write, ls, count, metadata, verify = results

    assert re.search(r"\nbatch +roll_checker +shoebox-example +0\.1\.0 ", listing.stdout)
    assert re.search(r"\noutbox +callback +shoebox-example +0\.1\.0 ", listing.stdout)
    assert re.search(r"\ntime +roll_checker +shoebox-timecheck +0\.1\.0 ", listing.stdout)
    assert "(shoebox-example 0.1.0)" in check.stdout and "(shoebox-timecheck 0.1.0)" in \
        check.stdout and check.stdout.endswith("examples/pipeline.toml: ok\n")

    assert "wrote 10,000 records into" in write.stderr
    archives = sorted((source / "demo-output" / "archive").iterdir())
    copies = sorted((source / "demo-output" / "outbox").iterdir())
    assert len(archives) > 1 and [p.name for p in copies] == [p.name for p in archives]
    assert ls.stdout.splitlines()[-1].startswith(f"{len(archives)} archives, 10,000 records")
    creates = sum(m["event"] == "compute.instance.create.end" for m, _ in nova_records)
    assert count.stdout == f"{creates}\n"
    assert [json.loads(line) for line in metadata.stdout.splitlines()] == [
        {"event_type": json.loads(p)["event_type"], "host": json.loads(p)["publisher_id"]}
        for _, p in nova_records[:3]
    ]
    assert f"{len(copies)} archives, 10,000 records: every checksum is good" in verify.stderr

    where = _run([str(bin_dir / "python"), "-c", "import shoebox_example, shoebox_core; "
                  "print(shoebox_example.__file__, shoebox_core.__file__)"], source.parent)
    assert where.stdout.count("site-packages") == 2, where.stdout


def test_a_config_naming_the_plugin_with_its_errors(installed: tuple[Path, Path]) -> None:
    bin_dir, source = installed
    shoebox = str(bin_dir / "shoebox")
    work = source.parent / "work"
    work.mkdir()
    lines = "".join(json.dumps({"n": i, "kind": "odd" if i % 2 else "even"}) + "\n"
                    for i in range(2000))
    (work / "in.jsonl").write_text(lines)
    config = source / "examples" / "example-plugin.toml"
    env = {"OUTBOX_URL": str(work / "out")}
    result = _run([shoebox, "write", "-c", str(config), "--fields", "kind", "in.jsonl"], work,
                  env=env)
    assert result.returncode == 0, result.stderr
    assert not list((work / "demo-output" / "archive").iterdir())  # copied, then deleted
    back = _run([shoebox, "cat", "-c", str(config), "--payload-only"], work, env=env)
    assert back.stdout == lines
    assert _run([shoebox, "cat", "-c", str(config), "-w", "kind=odd", "--count"], work,
                env=env).stdout == "1000\n"

    (work / "bad.toml").write_text(textwrap.dedent("""\
        template = "x_{seq}.events"
        [[roll]]
        plugin = "batch"
        min_records = 10
        min_secnds = 5
        """))
    bad = _run([shoebox, "config", "check", "bad.toml"], work)
    assert bad.returncode == 2
    assert bad.stderr.startswith(
        'shoebox config: bad.toml: [[roll]] #1 (plugin "batch") does not accept option '
        "'min_secnds' (did you mean 'min_seconds' instead of 'min_secnds'?); accepted options: "
        "min_records, min_seconds"
    )


def test_the_example_plugin_passes_its_own_tests() -> None:
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], EXAMPLE,
                  env={"PYTHONPATH": str(EXAMPLE)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-500:]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.DOTALL)


def test_the_code_in_writing_plugins_md_works(tmp_path: Path) -> None:
    from shoebox_core.clock import FakeClock
    from shoebox_core.testing import FakeArchive

    blocks = _python_blocks(REPO / "docs" / "writing-plugins.md")
    for block in blocks:
        compile(block, "writing-plugins.md", "exec")
    checker_code = next(b for b in blocks if "class BatchRollChecker" in b)
    uploader_code = next(b for b in blocks if "class OutboxUploader" in b)
    namespace: dict[str, Any] = {}
    exec(checker_code, namespace)  # noqa: S102 (our own documentation)
    clock = FakeClock()
    checker = namespace["BatchRollChecker"](min_records="2", min_seconds="10", clock=clock)
    archive = FakeArchive()
    checker.start(archive)
    archive.write(records=2)
    assert not checker.check(archive) and checker.seconds_left(archive) == 10
    clock.advance(10)
    assert checker.check(archive)

    exec(uploader_code, namespace)  # noqa: S102
    uploader = namespace["OutboxUploader"](url=str(tmp_path / "out"))
    sealed = tmp_path / "a.events"
    sealed.write_bytes(gzip.compress(b"x" * 1000))
    assert uploader.on_close(str(sealed)) is None
    assert (tmp_path / "out" / "a.events").read_bytes() == sealed.read_bytes()
    assert not (tmp_path / "out" / "a.events.partial").exists()
