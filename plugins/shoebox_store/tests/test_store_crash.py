"""Real writer processes killed with SIGKILL: no half-written value, every flushed change kept."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shoebox_store import ArchiveStore, FileSystemStore, init_shared_store

ARCHIVE_WRITER = """
import hashlib, io, os, random, sys
from shoebox_store import ArchiveStore
store = ArchiveStore(sys.argv[1], roll_size_mb=0.5, chunk_kb=64)
rng = random.Random(int(sys.argv[2]))
i = int(sys.argv[3])
while True:
    key = f"k{rng.randrange(40)}"
    if rng.random() < 0.05 and store.exists(key):
        store.delete(key)
        change = ("del", key, i)
    else:
        data = os.urandom(rng.choice([10, 1000, 50_000, 300_000]))
        store.set(key, (io.BytesIO(data), {"i": i, "sha": hashlib.sha256(data).hexdigest()}),
                  buffer_size=100_000)
        change = ("set", key, i)
    print(f"# {change}", flush=True)
    if i % 7 == 0:
        store.flush()
        print(i, flush=True)  # every change up to i is durable
    i += 1
"""

FS_WRITER = """
import hashlib, io, os, sys
from shoebox_store import FileSystemStore
store = FileSystemStore(sys.argv[1])
i = 0
while True:
    data = bytes([i % 256]) * (200_000 + i % 5000)
    store.set("k", (io.BytesIO(data), {"i": i, "sha": hashlib.sha256(data).hexdigest()}),
              buffer_size=65536)
    print(i, flush=True)
    i += 1
"""


def _run_and_kill(code: str, args: list[str], lines: int, seed: int) -> list[str]:
    """Start a writer, let it print ``lines`` lines plus a random moment, SIGKILL it."""
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    seen: list[str] = []
    try:
        while len(seen) < lines:
            line = process.stdout.readline()
            assert line, "the writer died on its own"
            seen.append(line.strip())
        time.sleep(random.Random(seed).random() * 0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    seen.extend(line.strip() for line in process.stdout.read().splitlines())
    return seen


def _check_whole(store: Any) -> dict[str, int]:
    """Every value matches the checksum its own metadata carries; returns key -> version."""
    versions = {}
    for key in store.query_keys():
        value = store.get(key)
        with value as data:
            assert hashlib.sha256(data.read()).hexdigest() == value.metadata["sha"], key
        versions[key] = value.metadata["i"]
    return versions


def test_archive_store_survives_sigkill_with_every_flushed_change(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    ArchiveStore(path).close()
    start = 0
    for round_ in range(3):  # each reopening first seals what the killed writer left
        lines = _run_and_kill(ARCHIVE_WRITER, [path, str(round_), str(start)], 60 + 20 * round_,
                              round_)
        flushed = max(int(x) for x in lines if not x.startswith("#"))
        changes = [eval(x[2:]) for x in lines if x.startswith("#")]  # noqa: S307 (our output)
        store = ArchiveStore(path)
        versions = _check_whole(store)
        # The latest flushed change of each key is there, or a later one.
        latest: dict[str, tuple[str, int]] = {}
        for op, key, i in changes:
            if i <= flushed:
                latest[key] = (op, i)
        for key, (op, i) in latest.items():
            deleted_later = any(o == "del" and k == key and j > i for o, k, j in changes)
            if op == "set" and not (key not in versions and deleted_later):
                assert versions.get(key, -1) >= i, (key, i, flushed)
            if op == "del" and key in versions:
                assert versions[key] > i, (key, i, flushed)
        assert store.verify() == []
        start = max([flushed, *versions.values()]) + 1
        store.close()
    assert list(Path(path).glob("*.inprogress")) == []


def test_file_system_store_set_is_all_or_nothing_under_sigkill(tmp_path: Path) -> None:
    root = str(tmp_path / "fs")
    init_shared_store(root)
    for round_ in range(6):
        lines = _run_and_kill(FS_WRITER, [root], 3 + round_ * 2, round_)
        store = FileSystemStore(root)
        (version,) = _check_whole(store).values()
        assert version >= int(lines[-1]) - 1  # the last set reported done, or one after it
    # The next writer finishes or drops what a killed one left; no temporary file is a key.
    store.set("k", (b"after", {"sha": hashlib.sha256(b"after").hexdigest(), "i": -1}))
    assert list(store.query_keys()) == ["k"]
    assert not list(Path(root).glob(".k.pending"))


def test_a_reader_never_sees_a_half_written_value(tmp_path: Path) -> None:
    root = str(tmp_path / "fs")
    init_shared_store(root)
    writer = subprocess.Popen([sys.executable, "-c", FS_WRITER, root], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline()
        store = FileSystemStore(root)
        seen = set()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            value = store.get("k")
            with value as data:
                body = data.read()
            assert hashlib.sha256(body).hexdigest() == value.metadata["sha"]
            assert body[0] == value.metadata["i"] % 256
            seen.add(value.metadata["i"])
        assert len(seen) > 3  # the reader really raced a busy writer
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
