"""ArchiveStore's own promises: indexes, damage, chunks, transactions, compaction, locking."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from shoebox_core.errors import CorruptArchive
from shoebox_core.roll_manager import ReadingRollManager

from shoebox_store import ArchiveStore, NotAStore, StoreError, StoreLocked, _compact, _segment


def state(store: ArchiveStore) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every key's data and metadata."""
    return {k: (store.to_bytes(k), store.get_metadata(k)) for k in sorted(store.query_keys())}


def archives(path: Path) -> list[Path]:
    return sorted(path.glob("*.sbx"))


def make(path: Path, **options: Any) -> ArchiveStore:
    store = ArchiveStore(path, roll_size_mb=0.01, **options)  # rolls every ~10 KB
    for i in range(60):
        store.set(f"k{i % 20}", (b"v%d-" % i + b"x" * 500, {"i": i, "even": i % 2 == 0}))
    store.delete("k3")
    store.update_metadata("k4", {"tag": "updated"})
    store.close()
    return ArchiveStore(path, roll_size_mb=0.01, **options)


def test_latest_change_wins_across_archives_and_reopens(tmp_path: Path) -> None:
    store = make(tmp_path / "s")
    assert len(archives(tmp_path / "s")) > 1 and store.rebuilt == []
    assert not store.exists("k3") and len(list(store.query_keys())) == 19
    assert store.get_metadata("k4") == {"i": 44, "even": True, "tag": "updated"}
    assert store.to_bytes("k19").startswith(b"v59-")
    created = store.get("k5").created
    store.set("k5", (b"again", {}))
    assert store.get("k5").created == created < store.get("k5").modified
    store.close()


def test_opening_reads_indexes_not_records(tmp_path: Path) -> None:
    store = make(tmp_path / "s")
    store.close()
    victim = archives(tmp_path / "s")[-1]
    raw = bytearray(victim.read_bytes())
    at = raw.index(b"v59-")
    raw[at + 10] ^= 0xFF  # damage one value's bytes (its block checksum fails now)
    victim.write_bytes(bytes(raw))
    store = ArchiveStore(tmp_path / "s")
    assert store.rebuilt == []  # a scan would have met the damaged block
    assert store.to_bytes("k18").startswith(b"v58-")
    with pytest.raises(CorruptArchive, match=f"{victim}.*checksum") as raised:
        store.to_bytes("k19")
    assert raised.value.path == str(victim) and raised.value.offset < at
    assert any("k19" in p for p in store.verify())
    store.close()


@pytest.mark.parametrize("damage", ["index", "end", "truncate"])
def test_a_missing_or_damaged_index_is_rebuilt_by_scanning(tmp_path: Path, damage: str) -> None:
    store = make(tmp_path / "s")
    expected = state(store)
    store.close()
    victim = archives(tmp_path / "s")[0]
    raw = bytearray(victim.read_bytes())
    if damage == "index":
        raw[-150] ^= 0x01
    elif damage == "end":
        raw[-5] ^= 0x01
    else:
        del raw[-60:]
    victim.write_bytes(bytes(raw))
    store = ArchiveStore(tmp_path / "s")
    assert store.rebuilt == [str(victim)]
    assert state(store) == expected
    store.close()


def test_archives_are_shoebox_archives(tmp_path: Path) -> None:
    make(tmp_path / "s").close()
    reader = ReadingRollManager("*.sbx", directory=str(tmp_path / "s"))
    with reader:
        records = list(reader)
    assert len(records) == 60 + 2 and all(meta["op"] in ("set", "del", "meta")
                                          for meta, _ in records)


def test_large_values_stream_in_chunks_with_flat_memory(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "s", chunk_kb=256)
    size = 48 * 1024 * 1024
    block = os.urandom(1024 * 1024)

    class Source(io.RawIOBase):
        done = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            n = min(n, size - self.done)
            self.done += n
            return block[:n]

    tracemalloc.start()
    store.set("big", (Source(), {"size": size}))
    written_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    digest = hashlib.sha256()
    value = store.get("big")
    for chunk in value.iterdata(buffer_size=1024 * 1024):
        digest.update(chunk)
    read_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert value.size == size
    assert digest.hexdigest() == hashlib.sha256(block * 48).hexdigest()
    assert written_peak < 8 * 1024 * 1024 and read_peak < 8 * 1024 * 1024
    assert store.get_data_range("big", size - 5, None).read() == block[-5:]
    store.close()
    reopened = ArchiveStore(tmp_path / "s")
    assert reopened.get("big").size == size
    assert reopened.get_data_range("big", 1024 * 1024 - 3, 1024 * 1024 + 3).read() == (
        block[-3:] + block[:3])
    reopened.close()


def test_a_failed_transaction_leaves_nothing_even_after_reopening(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "s")
    store.set("keep", (b"1", {"v": 1}))
    with pytest.raises(RuntimeError, match="boom"), store.transaction("fails"):
        store.set("new", (b"2", {}))
        store.update_metadata("keep", {"v": 2})
        assert store.exists("new") and store.get_metadata("keep") == {"v": 2}  # own writes
        raise RuntimeError("boom")
    assert not store.exists("new") and store.get_metadata("keep") == {"v": 1}
    with store.transaction("works"):
        store.set("other", (b"3", {}))
        store.delete("keep")
    store.close()
    store = ArchiveStore(tmp_path / "s")
    assert sorted(store.query_keys()) == ["other"]
    store.close()


def test_compaction_keeps_the_state_and_drops_the_rest(tmp_path: Path) -> None:
    store = make(tmp_path / "s")
    expected = state(store)
    times = {k: (store.get(k).created, store.get(k).modified) for k in expected}
    done = store.compact()
    assert done["after"] < done["before"] / 2 and state(store) == expected
    assert len(archives(tmp_path / "s")) == done["archives"]
    store.set("after", (b"compaction", {}))
    store.close()
    store = ArchiveStore(tmp_path / "s")
    assert state(store) == {**expected, "after": (b"compaction", {})}
    assert all((store.get(k).created, store.get(k).modified) == times[k] for k in expected)
    assert store.verify() == []
    store.close()


def test_compaction_interrupted_at_every_step_loses_and_revives_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop compaction before each seal and each deletion in turn (as a crash would), then
    reopen: the same state, k3 (deleted) never back, and compaction can run again."""
    real_seal, real_unlink = _segment.Segment.seal, os.unlink
    step = 0
    while True:
        store = make(tmp_path / f"s{step}")
        assert len(archives(tmp_path / f"s{step}")) >= 3
        expected = state(store)
        calls = {"n": 0}

        def counted(real: Any, calls: dict[str, int] = calls, step: int = step) -> Any:
            def call(*args: Any) -> Any:
                if calls["n"] == step:
                    raise KeyboardInterrupt("crash")
                calls["n"] += 1
                return real(*args)
            return call

        monkeypatch.setattr(_segment.Segment, "seal", counted(real_seal))
        monkeypatch.setattr(_compact.os, "unlink", counted(real_unlink))
        try:
            store.compact()
            finished = True
        except KeyboardInterrupt:
            finished = False
        monkeypatch.undo()
        store.close()
        reopened = ArchiveStore(tmp_path / f"s{step}")
        assert state(reopened) == expected, step
        reopened.compact()
        assert state(reopened) == expected and reopened.verify() == []
        reopened.close()
        if finished:
            break
        step += 1
    assert step >= 4  # the seal, and the deletion of each of the three old archives


def test_one_writer_many_readers(tmp_path: Path) -> None:
    writer = ArchiveStore(tmp_path / "s")
    writer.set("a", (b"1", {}))
    with pytest.raises(StoreLocked, match="another process"):
        ArchiveStore(tmp_path / "s")
    writer.flush()
    reader = ArchiveStore(tmp_path / "s", readonly=True)
    assert reader.to_bytes("a") == b"1"
    with pytest.raises(StoreError, match="read-only"):
        reader.set("b", (b"2", {}))
    listing = sorted(os.listdir(tmp_path / "s"))
    reader.close()
    assert sorted(os.listdir(tmp_path / "s")) == listing  # a reader writes nothing
    writer.close()
    with pytest.raises(StoreError, match="closed"):
        writer.set("c", (b"3", {}))


def test_a_writer_that_never_closed_is_sealed_by_the_next(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "s")
    store.set("a", (b"1", {"n": 1}))
    store.flush()
    store._active.abandon()  # as if killed: in progress, no index, no end marker
    os.close(store._lock_fd)
    store._lock_fd = -1
    assert [p.name for p in (tmp_path / "s").glob("*.inprogress")] == ["0000000001.sbx.inprogress"]
    reader = ArchiveStore(tmp_path / "s", readonly=True)
    assert reader.to_bytes("a") == b"1" and list((tmp_path / "s").glob("*.inprogress"))
    writer = ArchiveStore(tmp_path / "s")
    assert not list((tmp_path / "s").glob("*.inprogress"))
    assert writer.to_bytes("a") == b"1" and writer.verify() == []
    writer.close()


def test_a_directory_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("mine")
    with pytest.raises(NotAStore, match="other is not an archive store"):
        ArchiveStore(tmp_path / "other")
    with pytest.raises(NotAStore, match="does not exist"):
        ArchiveStore(tmp_path / "missing", readonly=True)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(ValueError, match="roll_size_mb must be a positive number"):
        ArchiveStore(tmp_path / "new", roll_size_mb=0)


def test_info(tmp_path: Path) -> None:
    store = make(tmp_path / "s")
    info = store.info()
    assert info["keys"] == 19 and info["archives"] >= 2 and info["bytes"] > 30_000
    store.close()
