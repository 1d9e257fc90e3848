"""``shoebox store``, run as a real command through the plugin's entry point."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from shoebox_core.cli import main

from shoebox_store import ArchiveStore, FileSystemStore, init_shared_store


def shoebox(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``shoebox ARGS`` in this process (the same parser, plugin discovery and error
    handling as the command; the subprocess test below checks the installed entry point)."""
    out, err = io.BytesIO(), io.BytesIO()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    sys.stdout = io.TextIOWrapper(out, write_through=True)
    sys.stderr = io.TextIOWrapper(err, write_through=True)
    try:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 2
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        for wrapper in (sys.stdout, sys.stderr):
            wrapper.detach()  # keep the buffers open (a wrapper closes its buffer when freed)
        sys.stdin, sys.stdout, sys.stderr = streams
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_the_installed_command_has_the_store_subcommand(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "shoebox_core", "store", "init",
                          str(tmp_path / "s")], capture_output=True, timeout=120)
    assert run.returncode == 0 and b"archive store at" in run.stdout, run.stderr
    run = subprocess.run([sys.executable, "-m", "shoebox_core", "store", "cat",
                          str(tmp_path / "s"), "nope"], capture_output=True, timeout=120)
    assert run.returncode == 4 and b"no key 'nope'" in run.stderr


@pytest.mark.parametrize("kind", ["archive", "filesystem"])
def test_a_round_trip_through_every_action(tmp_path: Path, kind: str) -> None:
    store = str(tmp_path / "s")
    made = shoebox("store", "init", store, "--kind", kind)
    assert made.returncode == 0 and kind.encode() in made.stdout, made.stderr
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    put = shoebox("store", "put", store, "big/file", str(source), "-m", "n=3", "-m", "who=me",
                  "--progress")
    assert put.returncode == 0 and b"big/file" in put.stderr and b"/3.15M" in put.stderr  # a bar
    quiet = shoebox("store", "get", store, "big/file", str(tmp_path / "x"), "--no-progress")
    assert quiet.returncode == 0 and quiet.stderr == b""
    assert shoebox("store", "put", store, "note", "--meta-json", '{"n": 4, "tags": ["a"]}',
                   stdin=b"from stdin").returncode == 0
    assert shoebox("store", "ls", store).stdout.decode().split() == ["big/file", "note"]
    assert shoebox("store", "ls", store, "big/*").stdout.decode().split() == ["big/file"]
    long = shoebox("store", "ls", "-l", store).stdout.decode()
    assert str(3 * 1024 * 1024) in long and '"tags": ["a"]' in long
    assert shoebox("store", "cat", store, "note").stdout == b"from stdin"
    target = tmp_path / "out.bin"
    assert shoebox("store", "get", store, "big/file", str(target)).returncode == 0
    assert target.read_bytes() == source.read_bytes()
    found = [json.loads(x) for x in shoebox("store", "query", store, "n=3").stdout.splitlines()]
    assert found == [{"key": "big/file", "metadata": {"n": 3, "who": "me"}}]
    selected = shoebox("store", "query", "--select", "tags", store).stdout.splitlines()
    assert [json.loads(x)["metadata"] for x in selected] == [{}, {"tags": ["a"]}]
    assert shoebox("store", "query", "--keys", store, "who=me").stdout == b"big/file\n"
    assert shoebox("store", "rm", store, "note").returncode == 0
    assert shoebox("store", "verify", store).returncode == 0
    compacted = shoebox("store", "compact", store)
    assert compacted.returncode == (0 if kind == "archive" else 2), compacted.stderr
    listed = shoebox("store", "ls", store)
    assert listed.stdout == b"big/file\n", listed.stderr
    opened: Any = ArchiveStore(store) if kind == "archive" else FileSystemStore(store)
    assert opened.get_metadata("big/file") == {"n": 3, "who": "me"}
    getattr(opened, "close", lambda: None)()


def test_errors_and_exit_statuses(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    missing = shoebox("store", "ls", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and b"does not exist" in missing.stderr
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x").write_text("x")
    assert b"neither an archive store" in shoebox("store", "ls", str(tmp_path / "plain")).stderr
    shoebox("store", "init", store)
    no_key = shoebox("store", "cat", store, "absent")
    assert no_key.returncode == 4 and no_key.stderr.strip() == (
        f"shoebox store cat: no key 'absent' in {store}".encode())
    bad = shoebox("store", "put", store, "../escape", stdin=b"x")
    assert bad.returncode == 2 and b"invalid key '../escape'" in bad.stderr
    assert not (tmp_path / "escape.data").exists()
    assert shoebox("store", "put", store, "k", "-m", "novalue", stdin=b"x").returncode == 2
    assert shoebox("store", "rm", store, "absent").returncode == 4
    assert b"compact" in shoebox("store", "--help").stdout
    assert b"A key-value store" in shoebox("--help").stdout


def test_damage_makes_verify_fail(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    with ArchiveStore(store) as opened:
        opened.set("k", (b"precious bytes" * 100, {}))
    (archive,) = (tmp_path / "s").glob("*.sbx")
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"precious") + 3] ^= 1
    archive.write_bytes(bytes(raw))
    checked = shoebox("store", "verify", store)
    assert checked.returncode == 1 and b"key 'k'" in checked.stderr


def test_a_filesystem_store_on_s3_from_the_command_line(moto_server: Any, tmp_path: Path) -> None:
    import s3fs

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem(**moto_server.storage_options(), skip_instance_cache=True).mkdir("clibucket")
    options = [f"--storage-option=endpoint_url={moto_server.endpoint_url}",
               f"--storage-option=key={moto_server.access_key}",
               f"--storage-option=secret={moto_server.secret_key}"]
    url = "s3://clibucket/store"
    assert shoebox("store", "init", url, *options).returncode == 0
    assert shoebox("store", "put", url, "a/b", *options, "-m", "x=1",
                   stdin=b"on s3").returncode == 0
    assert shoebox("store", "cat", url, "a/b", *options).stdout == b"on s3"
    opened = FileSystemStore(url, storage_options={**moto_server.storage_options(),
                                                   "skip_instance_cache": True})
    assert opened.get_metadata("a/b") == {"x": 1}
    init_shared_store(url, storage_options=moto_server.storage_options())  # left as it is
