"""The ``shoebox`` command, each subcommand run as a real subprocess, and its exit codes."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shoebox_core.cli._common import (
    EXIT_DATA,
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_PIPELINE,
    EXIT_USAGE,
)

from .conftest import PYTHON, events, on_a_terminal, shoebox, written

SUBCOMMANDS = ("write", "cat", "ls", "verify", "recover", "plugins", "config", "demo")


# -- help and exit codes --------------------------------------------------------------------------


def test_help_lists_every_subcommand_and_the_exit_codes(tmp_path: Path) -> None:
    result = shoebox("--help", cwd=tmp_path)
    assert result.returncode == EXIT_OK
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in result.stdout, name
    for code in ("0    success", "1    a data problem", "2    a usage or configuration error",
                 "3    the pipeline failed", "4    no archive matches"):
        assert code in result.stdout


@pytest.mark.parametrize("command", [*SUBCOMMANDS, "config check", "config example"])
def test_every_subcommand_has_help(tmp_path: Path, command: str) -> None:
    result = shoebox(*command.split(), "--help", cwd=tmp_path)
    assert result.returncode == EXIT_OK and result.stdout.startswith("usage: shoebox ")
    assert len(result.stdout.splitlines()) > 4


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert shoebox(cwd=tmp_path).returncode == EXIT_USAGE
    assert shoebox("frobnicate", cwd=tmp_path).returncode == EXIT_USAGE
    result = shoebox("write", cwd=tmp_path)  # -c is required
    assert result.returncode == EXIT_USAGE and "-c/--config" in result.stderr
    result = shoebox("cat", cwd=tmp_path)
    assert result.returncode == EXIT_USAGE
    assert "say which archives: give a PATTERN, or -c CONFIG" in result.stderr
    assert shoebox("--version", cwd=tmp_path).stdout.startswith("shoebox-core ")


# -- write and cat --------------------------------------------------------------------------------


def test_write_then_cat_gives_the_lines_back(tmp_path: Path, config: Path) -> None:
    lines = events(500)
    result = written(tmp_path, config, lines)
    # The directory as the writer resolved it, once, at construction.
    assert f"wrote 500 records into 3 archives in {tmp_path / 'archive'}" in result.stderr
    assert sorted(os.listdir(tmp_path / "archive"))[0].endswith(".events.gz")
    assert shoebox("cat", "archive/ev_*.events", "--payload-only",
                   cwd=tmp_path).stdout.splitlines() == lines
    out = shoebox("cat", "-c", str(config), cwd=tmp_path).stdout.splitlines()
    first = json.loads(out[0])
    assert first == {"metadata": {"event_type": "compute.instance.create",
                                  "host": "compute.host-0"}, "payload": json.loads(lines[0])}
    assert len(out) == 500


def test_cat_filters_counts_and_limits(tmp_path: Path, config: Path) -> None:
    written(tmp_path, config, events(300))
    args = ("cat", "-c", str(config))
    assert shoebox(*args, "--count", cwd=tmp_path).stdout == "300\n"
    assert shoebox(*args, "--where", "event_type=compute.instance.delete", "--count",
                   cwd=tmp_path).stdout == "150\n"
    assert shoebox(*args, "-w", "host!=compute.host-0", "-w", "event_type=compute.instance."
                   "create", "--count", cwd=tmp_path).stdout == "100\n"
    meta = shoebox(*args, "--metadata-only", "-n", "2", cwd=tmp_path).stdout.splitlines()
    assert [json.loads(m) for m in meta] == [
        {"event_type": "compute.instance.create", "host": "compute.host-0"},
        {"event_type": "compute.instance.delete", "host": "compute.host-1"},
    ]
    assert shoebox(*args, "-w", "nonsense", cwd=tmp_path).returncode == EXIT_USAGE


def test_cat_reads_a_url_and_payloads_that_are_not_json(tmp_path: Path) -> None:
    from shoebox_core.write.manager import WritingRollManager

    with WritingRollManager("x_{seq}.events", None, tmp_path / "a", background=False) as w:
        w.write({"k": "v"}, "plain text, not JSON")
        w.write({}, b"\x00\x01bytes")
        w.write({}, '{"multi":\n "line"}')
    out = shoebox("cat", f"file://{tmp_path}/a/x_*.events", cwd=tmp_path).stdout.splitlines()
    assert [json.loads(line) for line in out] == [
        {"metadata": {"k": "v"}, "payload": "plain text, not JSON"},
        {"metadata": {}, "payload_base64": "AAFieXRlcw=="},
        {"metadata": {}, "payload": {"multi": "line"}},
    ]


def test_write_takes_files_gzip_and_field_flags(tmp_path: Path, config: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_text("\n".join(events(10)) + "\n\n")
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(("\n".join(events(5, 10)) + "\n").encode()))
    result = shoebox("write", "-c", str(config), str(plain), str(packed), "--fields",
                     "uuid=payload.instance_id", "-m", "kind=split(event_type, '.')[2]",
                     cwd=tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    meta = shoebox("cat", "-c", str(config), "--metadata-only", cwd=tmp_path).stdout
    assert [json.loads(m) for m in meta.splitlines()][-1] == {"uuid": "i-14", "kind": "create"}


def test_a_cut_short_gzip_input_is_a_data_problem(tmp_path: Path, config: Path) -> None:
    packed = gzip.compress(("\n".join(events(2000)) + "\n").encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    result = shoebox("write", "-c", str(config), "cut.jsonl.gz", cwd=tmp_path)
    assert result.returncode == EXIT_DATA
    assert re.search(r"cut\.jsonl\.gz: cannot read line \d+: Compressed file ended", result.stderr)


def test_a_line_that_is_not_json_stops_the_write_and_keeps_what_came_before(
    tmp_path: Path, config: Path
) -> None:
    lines = [*events(3), "{not json", *events(2, 3)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    result = shoebox("write", "-c", str(config), "in.jsonl", cwd=tmp_path)
    assert result.returncode == EXIT_DATA
    assert "in.jsonl:4: not a JSON line (Expecting property name enclosed in double quotes at " \
           "column 2); --skip-invalid skips such lines" in result.stderr
    assert shoebox("cat", "-c", str(config), "--count", cwd=tmp_path).stdout == "3\n"
    result = shoebox("write", "-c", str(config), "in.jsonl", "--skip-invalid", cwd=tmp_path)
    assert result.returncode == EXIT_OK
    assert "skipped in.jsonl:4: not a JSON line" in result.stderr
    assert (f"wrote 5 records into 1 archive in {tmp_path / 'archive'}; skipped 1 line that "
            "is not JSON") in result.stderr
    assert shoebox("cat", "-c", str(config), "--count", cwd=tmp_path).stdout == "8\n"


def test_a_missing_field_is_an_error_when_asked(tmp_path: Path, config: Path) -> None:
    result = shoebox("write", "-c", str(config), "--missing", "error", "-f", "nope", cwd=tmp_path,
                     stdin=events(1)[0] + "\n")
    assert result.returncode == EXIT_DATA
    assert "<stdin>:1: metadata 'nope': nope is missing from the record" in result.stderr


def test_a_record_the_format_refuses_names_its_line(tmp_path: Path, config: Path) -> None:
    result = shoebox("write", "-c", str(config), "-q", cwd=tmp_path,
                     stdin='{"event_type": "ok"}\n{"event_type": "\\ud800"}\n')
    assert result.returncode == EXIT_DATA
    assert result.stderr.startswith("shoebox write: <stdin>:2: record refused: ")
    assert "surrogates not allowed" in result.stderr and "wrote" not in result.stderr  # -q
    assert shoebox("cat", "-c", str(config), "--count", cwd=tmp_path).stdout == "1\n"


def test_write_with_a_bad_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('template = "x_{seq}"\n[[on_close]]\nplugin = "gzip"\n'
                                       "levle = 9\n")
    result = shoebox("write", "-c", "bad.toml", cwd=tmp_path, stdin="{}\n")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip().endswith(
        "shoebox write: bad.toml: [[on_close]] #1 (plugin \"gzip\") does not accept option "
        "'levle' (did you mean 'level' instead of 'levle'?); accepted options: level, "
        "keep_original"
    )
    assert not (tmp_path / "archive").exists()


def test_a_failing_on_close_step_exits_3(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    (tmp_path / "p.toml").write_text('directory = "archive"\ntemplate = "x_{seq}.events"\n'
                                     '[[on_close]]\nplugin = "move"\ndirectory = "blocker/sub"\n')
    result = shoebox("write", "-c", "p.toml", cwd=tmp_path, stdin="{}\n")
    assert result.returncode == EXIT_PIPELINE
    assert "on_close step move failed for " in result.stderr
    assert "Traceback" not in result.stderr
    assert "x_000000.events" in os.listdir(tmp_path / "archive")  # kept


def test_progress_only_on_a_terminal(tmp_path: Path, config: Path) -> None:
    lines = "\n".join(events(200)) + "\n"
    piped = shoebox("write", "-c", str(config), cwd=tmp_path, stdin=lines)
    bar = re.compile(r"write: .*B/s\]")  # tqdm's "write: 5.2kB [00:00, 9.1MB/s]"
    assert not bar.search(piped.stderr)
    assert bar.search(on_a_terminal(["write", "-c", str(config)], tmp_path, lines,
                                    stdout=False)[0])
    forced_off, _ = on_a_terminal(["write", "-c", str(config), "--no-progress"], tmp_path, lines,
                                  stdout=False)
    assert not bar.search(forced_off) and "wrote 200 records" in forced_off


def test_cat_into_a_closed_pipe_ends_quietly(tmp_path: Path, config: Path) -> None:
    written(tmp_path, config, events(3000))
    process = subprocess.Popen([*PYTHON, "cat", "-c", str(config)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline()
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_OK and b"Traceback" not in stderr, stderr


# -- ls and verify --------------------------------------------------------------------------------


def _damage(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_ls_lists_every_archive(tmp_path: Path, config: Path) -> None:
    written(tmp_path, config, events(450))
    result = shoebox("ls", "-c", str(config), cwd=tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["RECORDS", "BYTES", "CODEC", "STATE", "FROM", "TO", "FILE"]
    assert [r.split()[0] for r in rows[1:4]] == ["200", "200", "50"]
    assert all(" none+gzip " in r and " sealed " in r for r in rows[1:4])
    assert rows[-1].startswith("3 archives, 450 records, ")
    as_json = [json.loads(line) for line in
               shoebox("ls", "-c", str(config), "--json", cwd=tmp_path).stdout.splitlines()]
    assert [(i["records"], i["state"], i["compression"]) for i in as_json] == [
        (200, "sealed", "gzip"), (200, "sealed", "gzip"), (50, "sealed", "gzip")
    ]
    assert as_json[0]["created"].endswith("Z")


def test_verify_reports_each_damage_with_file_and_offset(tmp_path: Path, layout: Any) -> None:
    from shoebox_core.write.manager import WritingRollManager

    with WritingRollManager("v_{seq}.events", None, tmp_path, block_records=10,
                            background=False) as writer:
        for i in range(50):
            writer.write({}, f"record {i}")
    path = Path(os.path.relpath(writer.sealed[0], tmp_path))
    good = shoebox("verify", "v_*.events", cwd=tmp_path)
    assert good.returncode == EXIT_OK
    assert good.stdout.startswith(f"ok       ./{path}  (50 records)")
    assert "every checksum is good" in good.stderr
    block = layout(tmp_path / path)[2]
    _damage(tmp_path / path, block["end"] - 2)
    bad = shoebox("verify", "v_*.events", cwd=tmp_path)
    assert bad.returncode == EXIT_DATA
    assert f"DAMAGED  ./{path} at byte {block['offset']}: block checksum mismatch" in bad.stdout
    assert "1 of 1 archive damaged (40 good records read)" in bad.stderr
    strict = shoebox("cat", "v_*.events", "--count", cwd=tmp_path)
    assert strict.returncode == EXIT_DATA
    assert f"./{path} at byte {block['offset']}: block checksum mismatch" in strict.stderr
    lenient = shoebox("cat", "v_*.events", "--count", "--lenient", cwd=tmp_path)
    assert (lenient.returncode, lenient.stdout) == (EXIT_DATA, "40\n")
    assert shoebox("ls", "v_*.events", cwd=tmp_path).returncode == EXIT_OK  # headers are fine


@pytest.mark.parametrize("command", ["cat", "ls", "verify"])
def test_nothing_matched_exits_4(tmp_path: Path, command: str) -> None:
    result = shoebox(command, "nothing_*.events", cwd=tmp_path)
    assert result.returncode == EXIT_NO_MATCH
    assert f"shoebox {command}: no archive matches nothing_*.events" in result.stderr


# -- recover --------------------------------------------------------------------------------------

CRASH = """
import os, sys
from shoebox_core.write.manager import WritingRollManager
writer = WritingRollManager("ev_%Y%m%dT%H%M%S_{seq}.events", None, "archive", block_records=10)
for i in range(35):
    writer.write({"i": str(i)}, "x" * 10)
writer.flush()
os._exit(0)  # as if killed: nothing sealed
"""


def test_recover_seals_a_crashed_file_and_runs_the_pipeline(tmp_path: Path, config) -> None:
    subprocess.run([sys.executable, "-c", CRASH], cwd=tmp_path, check=True)
    (left,) = os.listdir(tmp_path / "archive")
    assert left.endswith(".inprogress")
    listed = shoebox("ls", "archive/*", cwd=tmp_path).stdout
    assert " in progress " in listed and listed.split()[7] == "35"
    result = shoebox("recover", "-c", str(config), cwd=tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    assert "sealed after a crash as " in result.stdout and "(35 records, 0 bytes skipped)" in \
        result.stdout
    assert "on_close (gzip): " in result.stdout
    (sealed,) = os.listdir(tmp_path / "archive")
    assert sealed == left.removesuffix(".inprogress") + ".gz"
    assert shoebox("cat", "-c", str(config), "--count", cwd=tmp_path).stdout == "35\n"
    again = shoebox("recover", "archive", cwd=tmp_path)
    assert again.returncode == EXIT_OK and "nothing to recover in archive" in again.stderr


def test_recover_finishes_the_steps_a_failed_chain_left(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    (tmp_path / "p.toml").write_text('directory = "archive"\ntemplate = "x_{seq}.events"\n'
                                     '[[on_close]]\nplugin = "gzip"\n[[on_close]]\n'
                                     'plugin = "move"\ndirectory = "blocker/sub"\n')
    assert shoebox("write", "-c", "p.toml", cwd=tmp_path, stdin="{}\n").returncode == \
        EXIT_PIPELINE
    assert "x_000000.events.gz" in os.listdir(tmp_path / "archive")  # gzip done, move not
    without = shoebox("recover", "archive", cwd=tmp_path)
    assert "1 sealed archive with on-close steps pending; give -c CONFIG" in without.stderr
    (tmp_path / "blocker").unlink()
    result = shoebox("recover", "-c", "p.toml", cwd=tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    assert "x_000000.events: on-close steps pending" in result.stdout
    assert (tmp_path / "blocker" / "sub" / "x_000000.events.gz").exists()
    assert not any(n.startswith("x_") for n in os.listdir(tmp_path / "archive"))
    assert shoebox("cat", "blocker/sub/x_*.events", "--count", cwd=tmp_path).stdout == "1\n"


def test_recover_without_a_config_only_seals(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", CRASH], cwd=tmp_path, check=True)
    result = shoebox("recover", "archive", cwd=tmp_path)
    assert result.returncode == EXIT_OK
    assert "no on-close steps were run (give -c CONFIG" in result.stderr
    assert [n.endswith(".events") for n in os.listdir(tmp_path / "archive")] == [True]
    assert shoebox("recover", cwd=tmp_path).returncode == EXIT_USAGE


# -- plugins and config ---------------------------------------------------------------------------


def test_plugins_lists_every_strategy_with_its_distribution(tmp_path: Path) -> None:
    result = shoebox("plugins", cwd=tmp_path)
    assert result.returncode == EXIT_OK
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["size"][:3] == ["size", "roll_checker", "shoebox-core"]
    assert rows["gzip"][:3] == ["gzip", "callback", "shoebox-core"]
    assert rows["time"][:4] == ["time", "roll_checker", "shoebox-timecheck", "0.1.0"]
    assert "Roll when the archive reaches roll_size_mb MiB." in result.stdout
    as_json = [json.loads(line) for line in
               shoebox("plugins", "--json", "--kind", "namer", cwd=tmp_path).stdout.splitlines()]
    assert [(p["name"], p["kind"], p["distribution"]) for p in as_json] == [
        ("template", "namer", "shoebox-core")
    ]


def test_config_check_prints_the_pipeline_without_secrets(tmp_path: Path, config: Path) -> None:
    with config.open("a") as f:
        f.write('\n[reader]\nstorage_options = { secret = "${MY_SECRET}", region = "eu" }\n')
    result = shoebox("config", "check", str(config), cwd=tmp_path,
                     env={"MY_SECRET": "do-not-print-me"})
    assert result.returncode == EXIT_OK, result.stderr
    assert "do-not-print-me" not in result.stdout + result.stderr
    assert "roll_records=200" in result.stdout and "(shoebox-core " in result.stdout
    assert "1. gzip" in result.stdout and result.stdout.endswith(": ok\n")
    data = json.loads(shoebox("config", "check", str(config), "--json", cwd=tmp_path,
                              env={"MY_SECRET": "x" * 9}).stdout)
    assert data["reader"]["storage_options"] == {"secret": "***", "region": "eu"}
    missing = shoebox("config", "check", str(config), cwd=tmp_path, env={"MY_SECRET": ""})
    assert missing.returncode == EXIT_OK  # set but empty is still set
    env = {k: v for k, v in os.environ.items() if k != "MY_SECRET"}
    unset = subprocess.run([*PYTHON, "config", "check",
                            str(config)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert unset.returncode == EXIT_USAGE
    assert "[reader] storage_options.secret: environment variable MY_SECRET is not set" in \
        unset.stderr


def test_config_example_is_a_valid_config(tmp_path: Path) -> None:
    example = shoebox("config", "example", cwd=tmp_path)
    assert example.returncode == EXIT_OK
    (tmp_path / "example.toml").write_text(example.stdout)
    checked = shoebox("config", "check", "example.toml", cwd=tmp_path)
    assert checked.returncode == EXIT_OK, checked.stderr
    assert shoebox("config", cwd=tmp_path).returncode == EXIT_USAGE


def test_demo_still_works(tmp_path: Path) -> None:
    result = shoebox("demo", "--records", "2000", "--directory", "d", cwd=tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    assert "every record came back equal and in order" in result.stdout


def test_status_reports_unfinished_shipping_and_exits_by_outcome(tmp_path: Path) -> None:
    from shoebox_core.errors import CallbackError
    from shoebox_core.write.manager import WritingRollManager

    class Down:
        name = "upload"
        transient_failures = False

        def on_close(self, filename: str) -> None:
            raise OSError("the store is down")

    archive_dir = tmp_path / "a"
    writer = WritingRollManager("s_{seq}.events", None, str(archive_dir), Down())
    writer.write({"k": "v"}, "payload")
    with pytest.raises(CallbackError):
        writer.close()
    done = shoebox("status", str(archive_dir), cwd=tmp_path)
    assert done.returncode == EXIT_PIPELINE, done.stderr
    assert "1 sealed file(s) not finished (1 failed" in done.stdout
    as_json = shoebox("status", str(archive_dir), "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["failed"] == 1
    (archive_dir / "s_000000.events.state").unlink()
    clean = shoebox("status", str(archive_dir), cwd=tmp_path)
    assert clean.returncode == 0 and "0 sealed file(s) not finished" in clean.stdout
    missing = shoebox("status", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == EXIT_USAGE and "nope: no such directory" in missing.stderr
