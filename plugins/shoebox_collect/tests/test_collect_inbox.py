"""Inbox: staging into a worker's own rolling archive."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from collect_helpers import inbox_files, sha
from shoebox_core.errors import ShoeboxError
from shoebox_core.roll_manager import ReadingRollManager

from shoebox_collect import Inbox, collect


def _records(base: Path) -> list[dict[str, str]]:
    inbox = base / ".shoebox" / "inbox"
    out = []
    for name in sorted(os.listdir(inbox)):
        with ReadingRollManager(name, directory=str(inbox)) as reader:
            out.extend(meta for meta, _ in reader)
    return out


def test_base_and_inbox_are_created_and_a_closed_file_is_one_record(base: Path) -> None:
    with Inbox(base) as inbox:
        with inbox.open("a.zip/x.bin", "wb") as f:
            assert f.write(b"abc") == 3
            f.write(memoryview(b"def"))
        assert f.stored and f.closed
        assert inbox_files(base) and all(n.endswith(".inprogress") for n in inbox_files(base))
    [meta] = _records(base)
    assert meta["dest"] == "a.zip/x.bin" and meta["size"] == "6"
    assert meta["sha256"] == sha(b"abcdef") and meta["chunks"] == "0"
    assert int(meta["mode"]) == 0o100644
    assert [n.endswith(".inbox") for n in inbox_files(base)] == [True]


def test_text_mode_is_utf8_and_records_permissions_and_mtime(base: Path) -> None:
    with Inbox(base) as inbox:
        with inbox.open("a.zip/t.txt", "w", permissions=0o600, mtime=1_000_000_000.5) as f:
            f.write("héllo ☃\n")
        assert f.stored
        with inbox.open("a.zip/l1.txt", "w", encoding="latin-1") as f:
            f.write("é")
    first, second = _records(base)
    assert first["sha256"] == sha("héllo ☃\n".encode())
    assert int(first["mode"]) == 0o100600 and first["mtime_ns"] == "1000000000500000000"
    assert second["sha256"] == sha(b"\xe9")


@pytest.mark.parametrize("mode", ["wb", "w"])
def test_a_block_that_raises_stores_nothing(base: Path, mode: str) -> None:
    with Inbox(base, chunk_bytes=64) as inbox:
        with pytest.raises(KeyError):
            with inbox.open("a.zip/broken", mode) as f:
                f.write(("x" if mode == "w" else b"x") * 1000)  # several chunks already out
                raise KeyError("boom")
        assert not f.stored
        inbox.put("a.zip/ok", b"fine")
    report = collect(base)
    assert report.added == ["a.zip/ok"]
    assert report.abandoned == (1 if mode == "wb" else 0)  # text waits in its wrapper


def test_a_file_dropped_without_close_is_not_stored(base: Path) -> None:
    with Inbox(base, chunk_bytes=8) as inbox:
        f = inbox.open("a.zip/dropped", "wb")
        f.write(b"0123456789abcdef")
        del f
        inbox.put("a.zip/kept", b"k")
    report = collect(base)
    assert report.added == ["a.zip/kept"] and report.abandoned == 1


def test_bad_modes_and_writes_after_close_are_refused(base: Path) -> None:
    with Inbox(base) as inbox:
        for mode in ("r", "rb", "a", "w+b", "x"):
            with pytest.raises(ValueError, match="mode"):
                inbox.open("a.zip/x", mode)
        f = inbox.open("a.zip/x")
        f.close()
        with pytest.raises(ValueError, match="closed"):
            f.write(b"late")
    with pytest.raises(ShoeboxError, match="closed"):
        inbox.open("a.zip/y")


def test_a_large_file_streams_in_chunks_with_flat_memory(base: Path) -> None:
    block = os.urandom(1 << 20)
    with Inbox(base, chunk_bytes=256 * 1024) as inbox:
        tracemalloc.start()
        try:
            with inbox.open("a.zip/big.bin", "wb") as f:
                for _ in range(24):
                    f.write(block)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 6 * (1 << 20), peak  # 24 MiB written; a few chunks at most in memory
    metas = _records(base)
    assert [m["k"] for m in metas] == ["chunk"] * 96 + ["file"]
    assert metas[-1]["chunks"] == "96" and metas[-1]["size"] == str(24 << 20)


def test_pickup_adopts_a_file_with_its_mode_and_mtime_then_removes_it(base: Path) -> None:
    source = base.parent / "tool.bin"
    source.write_bytes(b"T" * 3000)
    os.chmod(source, 0o640)
    os.utime(source, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_000_000))
    with Inbox(base, chunk_bytes=1024) as inbox:
        dest = inbox.pickup(source, "a.zip/tools/tool.bin")
        assert str(dest) == "a.zip/tools/tool.bin"
        assert not source.exists()
    meta = _records(base)[-1]
    assert int(meta["mode"]) == 0o100640 and meta["mtime_ns"] == "1600000000123000000"
    assert meta["sha256"] == sha(b"T" * 3000) and meta["chunks"] == "3"


def test_pickup_keeps_the_source_when_it_cannot_be_staged(base: Path) -> None:
    folder = base.parent / "folder"
    folder.mkdir()
    with Inbox(base) as inbox:
        with pytest.raises(ValueError, match="regular file"):
            inbox.pickup(folder, "a.zip/f")
        with pytest.raises(FileNotFoundError):
            inbox.pickup(base.parent / "missing", "a.zip/f")
    assert folder.is_dir()


def test_pickup_refuses_a_file_that_changes_while_read(base: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source = base.parent / "growing.log"
    source.write_bytes(b"a" * 5000)
    with Inbox(base, chunk_bytes=1000) as inbox:
        real_write = inbox._write
        calls = []

        def write_and_grow(meta: dict[str, str], payload: bytes) -> None:
            if not calls:
                with open(source, "ab") as more:
                    more.write(b"more")
            calls.append(meta)
            real_write(meta, payload)

        monkeypatch.setattr(inbox, "_write", write_and_grow)
        with pytest.raises(ShoeboxError, match="changed while it was picked up"):
            inbox.pickup(source, "a.zip/log")
    assert source.read_bytes() == b"a" * 5000 + b"more"
    assert collect(base).added == []


def test_two_inboxes_in_the_same_second_never_share_a_file(base: Path, fake_clock) -> None:
    inboxes = [Inbox(base, clock=fake_clock) for _ in range(5)]
    for n, inbox in enumerate(inboxes):
        inbox.put(f"a.zip/{n}", str(n))
    names = inbox_files(base)
    assert len(names) == 5 and len({n.split("_")[0] for n in names}) == 1  # same second
    for inbox in inboxes:
        inbox.close()
    assert sorted(collect(base).added) == [f"a.zip/{n}" for n in range(5)]


def test_rotation_by_time_waits_for_open_files(base: Path, fake_clock) -> None:
    with Inbox(base, rotate_seconds=10, clock=fake_clock) as inbox:
        inbox.put("a.zip/1", b"1")
        fake_clock.advance(5)
        assert inbox.tick() == pytest.approx(5)
        f = inbox.open("a.zip/2", "wb")
        f.write(b"2")
        fake_clock.advance(6)
        inbox.tick()  # due, but a file is open: the archive is not cut between its chunks
        assert inbox.sealed == []
        f.close()  # the last open file closes: now it is sealed
        assert len(inbox.sealed) == 1
        inbox.put("a.zip/3", b"3")
        fake_clock.advance(11)
        inbox.tick()
        assert len(inbox.sealed) == 2
    assert len(inbox.sealed) == 2  # nothing left to seal at close
    assert sorted(collect(base).added) == ["a.zip/1", "a.zip/2", "a.zip/3"]


def test_rotation_timer_seals_an_idle_workers_inbox(base: Path) -> None:
    import time

    with Inbox(base, rotate_seconds=0.2) as inbox:
        inbox.put("a.zip/idle", b"x")
        deadline = time.monotonic() + 10
        while not inbox.sealed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(inbox.sealed) == 1
        assert inbox_files(base) == [os.path.basename(inbox.sealed[0])]


def test_rotation_by_size_and_explicit_roll(base: Path) -> None:
    with Inbox(base, max_inbox_bytes=1000) as inbox:
        for n in range(6):
            inbox.put(f"a.zip/{n}", b"x" * 600)
        assert len(inbox.sealed) == 3  # sealed once it holds 1000 bytes: every second file
        inbox.put("a.zip/small", b"s")
        assert inbox.roll() is not None and len(inbox.sealed) == 4
        assert inbox.roll() is None


@pytest.mark.parametrize("durability", ["fsync", "batch"])
def test_other_durabilities_store_the_same(base: Path, durability: str) -> None:
    with Inbox(base, durability=durability, chunk_bytes=100) as inbox:
        inbox.put("a.zip/f", "x")
        inbox.put("a.zip/big", b"y" * 1000)
    assert collect(base).added == ["a.zip/f", "a.zip/big"]


def test_batched_files_reach_the_os_within_flush_seconds(base: Path) -> None:
    import time

    with Inbox(base, durability="batch", flush_seconds=0.1) as inbox:
        inbox.put("a.zip/f", b"x" * 100)
        [name] = inbox_files(base)
        path = base / ".shoebox" / "inbox" / name
        header = path.stat().st_size
        deadline = time.monotonic() + 10
        while path.stat().st_size == header and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > header + 100


def test_an_unknown_durability_is_refused(base: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        Inbox(base, durability="sometimes")
