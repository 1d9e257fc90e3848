"""An operator's day with the real ``shoebox`` command: traps in the pipeline, exit codes,
pipes, directories given for patterns, ``status``, URLs in the output (issue 12)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoebox_core.cli._common import EXIT_DATA, EXIT_OK, EXIT_PIPELINE, EXIT_USAGE

from .conftest import PYTHON, events, on_a_terminal, pipeline_config, shoebox, written


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A pipeline writing ``archive/ev_*.events`` rolled every 100 records, nothing on close."""
    return pipeline_config(tmp_path, """\
        directory = "archive"
        template = "ev_%Y%m%dT%H%M%S_{seq}.events"

        [[roll]]
        plugin = "count"
        roll_records = 100

        [input]
        fields = ["event_type"]
        """)


# -- traps in the pipeline ------------------------------------------------------------------------


@pytest.mark.parametrize("first, second", [
    ('plugin = "delete"', 'plugin = "gzip"'),
    ('plugin = "move"\ndirectory = "elsewhere"', 'plugin = "fsspec"\nurl = "remote"'),
    ('plugin = "fsspec"\nurl = "remote"\nremove_local = true', 'plugin = "gzip"'),
])
def test_config_check_refuses_a_step_after_one_that_removes_the_file(
    tmp_path: Path, first: str, second: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'template = "x_{{seq}}.events"\n[[on_close]]\n{first}\n'
                    f'[[on_close]]\n{second}\n')
    result = shoebox("config", "check", str(path), cwd=tmp_path)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "[[on_close]] #1" in result.stderr and "[[on_close]] #2" in result.stderr
    assert "put it last" in result.stderr
    # Last, the same steps are fine.
    path.write_text(f'template = "x_{{seq}}.events"\n[[on_close]]\n{second}\n'
                    f'[[on_close]]\n{first}\n')
    assert shoebox("config", "check", str(path), cwd=tmp_path).returncode == EXIT_OK


def test_a_writer_refuses_the_chain_too_and_a_plugin_step_can_declare_it(tmp_path: Path) -> None:
    from shoebox_core.errors import ConfigError
    from shoebox_core.ship.compress import GzipCallback
    from shoebox_core.write.manager import WritingRollManager

    class Archiver:  # a plugin's step: it hands the file to another system
        name = "hand-over"
        local_effect = "moves"

        def on_close(self, filename: str) -> None:
            os.unlink(filename)

    with pytest.raises(ConfigError, match="'hand-over' moves the file away.*'gzip'"):
        WritingRollManager("x_{seq}.events", None, str(tmp_path), [Archiver(), GzipCallback()])
    assert os.listdir(tmp_path) == []  # refused before anything was written
    writer = WritingRollManager("x_{seq}.events", None, str(tmp_path), [GzipCallback(), Archiver()])
    writer.write({}, "kept until handed over")
    writer.close()
    assert os.listdir(tmp_path) == []


def test_compressing_twice_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('template = "x_{seq}.events"\n[writer]\ncompression = "zstd"\n'
                    '[[on_close]]\nplugin = "zstd"\n')
    result = shoebox("config", "check", str(path), cwd=tmp_path)
    assert result.returncode == EXIT_OK
    assert "warning:" in result.stderr and "compresses the file again" in result.stderr
    path.write_text('template = "x_{seq}.events"\n[[on_close]]\nplugin = "zstd"\n')
    assert "warning" not in shoebox("config", "check", str(path), cwd=tmp_path).stderr


def test_ls_and_cat_find_partitioned_objects_in_a_bucket(tmp_path: Path, moto) -> None:
    import s3fs

    s3fs.S3FileSystem(**moto.storage_options()).mkdir("shoebox-ops")
    path = tmp_path / "p.toml"
    path.write_text(textwrap.dedent(f"""\
        directory = "spool"
        template = "events_%Y%m%dT%H%M%S_{{seq}}.events"

        [writer]
        partition_by = ["event_type"]

        [[roll]]
        plugin = "count"
        roll_records = 7

        [[on_close]]
        plugin = "s3"
        url = "s3://shoebox-ops/events"
        template = "{{event_type}}/%Y/%m/%d/{{name}}"
        endpoint_url = "{moto.endpoint_url}"
        key = "{moto.access_key}"
        secret = "${{S3_SECRET}}"
        remove_local = true

        [input]
        fields = ["event_type"]
        """))
    env = {"S3_SECRET": moto.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}
    lines = events(30)
    write = shoebox("write", "-c", str(path), cwd=tmp_path, stdin="\n".join(lines) + "\n", env=env)
    assert write.returncode == EXIT_OK, write.stderr
    assert not [n for n in os.listdir(tmp_path / "spool") if n.endswith(".events")]
    listed = shoebox("ls", "-c", str(path), "--json", cwd=tmp_path, env=env)
    assert listed.returncode == EXIT_OK, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sum(row["records"] for row in rows) == 30
    for row in rows:
        assert row["path"].startswith("s3://shoebox-ops/events/compute.instance.")
        # Each object holds its prefix's events only: the object name is true.
        prefix = row["path"].split("/")[4]
        # ls's path is fed back to cat as it is.
        cat = shoebox("cat", row["path"], "--metadata-only",
                      "--storage-option", f"endpoint_url={moto.endpoint_url}",
                      "--storage-option", f"key={moto.access_key}",
                      "--storage-option", f"secret={moto.secret_key}", cwd=tmp_path, env=env)
        assert cat.returncode == EXIT_OK, cat.stderr
        assert {json.loads(m)["event_type"] for m in cat.stdout.splitlines()} == {prefix}
    verify = shoebox("verify", "-c", str(path), cwd=tmp_path, env=env)
    assert verify.returncode == EXIT_OK, verify.stderr
    assert verify.stdout.startswith("ok       s3://shoebox-ops/events/")
    count = shoebox("cat", "-c", str(path), "--count", cwd=tmp_path, env=env)
    assert count.stdout == "30\n"


# -- exit codes -----------------------------------------------------------------------------------


def _without_privileges(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    """The command run without the capabilities that let root ignore file modes (as any user
    is), so a mode-000 file is refused as it would be in production."""
    prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *PYTHON, *args], cwd=cwd, input=stdin, text=True,
                          capture_output=True, timeout=120)


def test_a_permission_problem_is_a_file_system_error(tmp_path: Path, config: Path) -> None:
    assert os.geteuid() != 0 or shutil.which("setpriv"), "setpriv (util-linux) is needed as root"
    written(tmp_path, config, events(5))
    archive = next((tmp_path / "archive").glob("ev_*.events"))
    archive.chmod(0)
    for command in ("ls", "verify", "cat"):
        result = _without_privileges(command, "archive/ev_*.events", cwd=tmp_path)
        assert result.returncode == EXIT_PIPELINE, (command, result.stderr)
        assert f"permission denied: archive/{archive.name}" in result.stderr
        assert "Traceback" not in result.stderr
    (tmp_path / "archive").chmod(0o555)
    try:
        result = _without_privileges("write", "-c", str(config), cwd=tmp_path, stdin="{}\n")
        assert result.returncode == EXIT_PIPELINE and "permission denied" in result.stderr
    finally:
        (tmp_path / "archive").chmod(0o755)
    config.chmod(0)
    result = _without_privileges("config", "check", str(config), cwd=tmp_path)
    assert result.returncode == EXIT_PIPELINE and "permission denied" in result.stderr


def test_a_directory_is_read_as_its_archives_and_a_missing_one_is_said(
    tmp_path: Path, config: Path
) -> None:
    written(tmp_path, config, events(250))
    listed = shoebox("ls", "archive", cwd=tmp_path)
    assert listed.returncode == EXIT_OK, listed.stderr
    assert "3 archives, 250 records" in listed.stdout
    assert shoebox("cat", "archive", "--count", cwd=tmp_path).stdout == "250\n"
    missing = shoebox("recover", "no/such/dir", cwd=tmp_path)
    assert missing.returncode == EXIT_USAGE and "no/such/dir: no such directory" in \
        missing.stderr
    a_file = shoebox("recover", str(next((tmp_path / "archive").iterdir())), cwd=tmp_path)
    assert a_file.returncode == EXIT_USAGE and "not a directory" in a_file.stderr


@pytest.mark.parametrize("args", [["verify", "archive/*.events"],
                                  ["ls", "--json", "archive/*.events"]])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path, config: Path,
                                                args: list[str]) -> None:
    lines = events(3000)
    written(tmp_path, config, lines)
    # A real shell pipe: `shoebox ... | head -1`, pipefail to see shoebox's own status.
    command = " ".join([*PYTHON, *[f"'{a}'" for a in args]])
    result = subprocess.run(["bash", "-o", "pipefail", "-c", f"{command} | head -1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_OK, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == "" or "Broken pipe" not in result.stderr


def test_unknown_arguments_show_the_subcommands_usage(tmp_path: Path) -> None:
    result = shoebox("ls", "--bogus", cwd=tmp_path)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("usage: shoebox ls ")
    nested = shoebox("config", "check", "x.toml", "--bogus", cwd=tmp_path)
    assert nested.stderr.startswith("usage: shoebox config check ")
    said = shoebox("recover", cwd=tmp_path)
    assert said.returncode == EXIT_USAGE and said.stderr.startswith("usage: shoebox recover ")


def test_status_takes_a_config_and_shows_a_dead_writers_file_as_stale(
    tmp_path: Path, config: Path
) -> None:
    config.write_text(config.read_text() + '[[on_close]]\nplugin = "gzip"\n')
    script = textwrap.dedent(f"""\
        import os, signal
        from shoebox_core.config import load_pipeline
        writer = load_pipeline({str(config)!r}).open_writer()
        writer.write({{"event_type": "a"}}, "x")
        writer.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=120)
    assert killed.returncode == -9
    status = shoebox("status", "-c", str(config), cwd=tmp_path)
    assert status.returncode == EXIT_OK, status.stderr
    assert "0 being written, 1 stale" in status.stdout
    assert "  stale " in status.stdout
    as_json = json.loads(shoebox("status", "-c", str(config), "--json", cwd=tmp_path).stdout)
    assert as_json["stale"] == 1 and as_json["writing"] == 0


def test_counts_say_one_record(tmp_path: Path, config: Path) -> None:
    result = written(tmp_path, config, events(1))
    assert "wrote 1 record into 1 archive" in result.stderr
    assert "1 archive, 1 record," in shoebox("ls", "archive/*", cwd=tmp_path).stdout
    damaged = shoebox("verify", "archive/*", cwd=tmp_path)
    assert damaged.returncode == EXIT_OK and "(1 record)" in damaged.stdout


def test_verify_lines_stay_whole_beside_the_progress_bar(tmp_path: Path, config: Path) -> None:
    written(tmp_path, config, events(2000))
    text, status = on_a_terminal(["verify", "--progress", "archive/*.events"], tmp_path)
    lines = [line for line in text.replace("\r", "\n").split("\n") if "ok  " in line]
    assert len(lines) == 20, text
    # Each "ok" line starts at its line's start: the bar never shares a line with it.
    assert all(line.lstrip("\x1b[A2K ").startswith("ok       ") for line in lines), lines
    assert status == EXIT_OK


def test_data_problems_still_exit_1(tmp_path: Path, config: Path) -> None:
    written(tmp_path, config, events(5))
    archive = next((tmp_path / "archive").glob("ev_*.events"))
    data = bytearray(archive.read_bytes())
    data[-40] ^= 0xFF
    archive.write_bytes(bytes(data))
    assert shoebox("verify", "archive/*.events", cwd=tmp_path).returncode == EXIT_DATA


def test_a_failed_shipping_attempt_is_one_line(tmp_path: Path, config: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the remote directory should be")
    config.write_text(config.read_text() + textwrap.dedent("""\
        [writer.retry]
        max_attempts = 1

        [[on_close]]
        plugin = "fsspec"
        url = "blocker/sub"
        """))
    result = shoebox("write", "-c", str(config), cwd=tmp_path, stdin="{}\n")
    assert result.returncode == EXIT_PIPELINE
    failures = [line for line in result.stderr.splitlines()
                if line.startswith("shoebox: on_close step")]  # each attempt's line
    assert failures, result.stderr
    for line in failures:
        assert "on_close step fsspec failed for " in line and "Error: " in line
        assert "not run: none" not in line and "Traceback" not in result.stderr
        assert len(line.replace(str(tmp_path), "")) < 200, line
