"""What a write() promises (issue 10: items 4, 6, 7, 11): blocks every reader accepts, an exception
that always means "not stored", one directory whatever the working directory does, and write order
across restarts with the clock stepped back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shoebox_core.config.pipeline import load_pipeline
from shoebox_core.errors import BacklogFull, ConfigError
from shoebox_core.format import v2
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.testing.callbacks import RecordingCallback
from shoebox_core.write.archive import largest_block_body
from shoebox_core.write.checkers import CountRollChecker, RollChecker
from shoebox_core.write.manager import WritingRollManager

# -- 4: one limit for the writer and the reader ----------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_max_record_bytes_beyond_what_a_readable_block_holds_is_refused(
    tmp_path: Path, compression: str
) -> None:
    block_bytes = 256 * 1024
    most = largest_block_body(compression) - v2.ARRAY32.size - (block_bytes - 1)
    # The largest record allowed, in a block already holding block_bytes - 1 bytes, still makes a
    # block (raw and stored) readers accept.
    assert most + block_bytes - 1 + v2.ARRAY32.size <= v2.MAX_BLOCK
    WritingRollManager("a_{seq}.events", None, str(tmp_path), max_record_bytes=most,
                       compression=compression)
    for too_big in (most + 1, int(1.1 * 2**30)):
        with pytest.raises(ConfigError, match=rf"max_record_bytes={too_big} .*at most {most}"):
            WritingRollManager("a_{seq}.events", None, str(tmp_path), max_record_bytes=too_big,
                               compression=compression)
    with pytest.raises(ConfigError, match="block_bytes=1000000000"):
        WritingRollManager("a_{seq}.events", None, str(tmp_path), block_bytes=10**9,
                           max_record_bytes=10**8)
    assert os.listdir(tmp_path) == []


def test_config_check_refuses_a_max_record_bytes_no_reader_accepts(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text('template = "a_{seq}.events"\n[writer]\nmax_record_bytes = 1200000000\n')
    with pytest.raises(ConfigError, match=r"\[writer\] max_record_bytes.*MAX_BLOCK"):
        load_pipeline(config)
    result = subprocess.run([sys.executable, "-m", "shoebox_core", "config", "check",
                             str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "max_record_bytes" in result.stderr, result.stderr


# -- 6: an exception from write() means "not stored" -----------------------------------------------


class Blocking(RecordingCallback):
    """An on-close step that waits until released (a slow store)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def on_close(self, filename: str) -> None:
        self.release.wait(30)
        super().on_close(filename)


def write_retrying(writer: WritingRollManager, records: list[tuple[dict[str, str], str]],
                   on_refusal: Any) -> int:
    """Write each record, retrying while write() raises (as a careful caller does)."""
    refusals = 0
    for metadata, payload in records:
        while True:
            try:
                writer.write(metadata, payload)
                break
            except Exception as exc:
                refusals += 1
                assert refusals < 1000, exc
                on_refusal(exc)
    return refusals


def test_backlog_full_is_raised_before_the_record_is_stored(tmp_path: Path) -> None:
    slow = Blocking()
    writer = WritingRollManager("b_{seq}.events", CountRollChecker(roll_records=3), str(tmp_path),
                                [slow], max_backlog=1, when_full="raise")
    records = [({"i": str(i)}, f"p{i}") for i in range(20)]
    seen: list[BaseException] = []

    def refused(exc: BaseException) -> None:
        seen.append(exc)
        slow.release.set()  # the store comes back
        time.sleep(0.01)

    assert write_retrying(writer, records, refused) >= 1
    writer.close()
    assert list(ReadingRollManager("b_*.events", str(tmp_path))) == records, "each record once"
    assert all(isinstance(exc, BacklogFull) and "not stored" in str(exc) for exc in seen)


class FailsOnce(RollChecker):
    """A per-write roll checker that raises once, after the record was taken."""

    def __init__(self) -> None:
        self.failed = False

    def start(self, archive: Any) -> None:
        pass

    def check(self, archive: Any) -> bool:
        if archive.record_count == 3 and not self.failed:
            self.failed = True
            raise RuntimeError("checker bug")
        return False


def test_a_failure_after_the_record_was_stored_is_not_raised_by_write(tmp_path: Path) -> None:
    writer = WritingRollManager("c_{seq}.events", FailsOnce(), str(tmp_path))
    records = [({"i": str(i)}, f"p{i}") for i in range(6)]
    assert write_retrying(writer, records, lambda exc: None) == 0
    with pytest.raises(RuntimeError, match="checker bug"):
        writer.close()  # reported, once every record is sealed
    assert list(ReadingRollManager("c_*.events", str(tmp_path))) == records


# -- 7: a relative directory is resolved once ------------------------------------------------------


def test_chdir_after_construction_changes_nothing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    writer = WritingRollManager("d_{seq}.events", None, "spool")
    writer.write({"i": "0"}, "before")
    writer.flush()
    os.chdir(tmp_path / "second")
    writer.write({"i": "1"}, "after")
    writer.close()
    assert sorted(os.listdir(tmp_path / "first" / "spool")) == ["d_000000.events"]
    assert os.listdir(tmp_path / "second") == []
    again = WritingRollManager("d_{seq}.events", None, str(tmp_path / "first" / "spool"))
    again.write({"i": "2"}, "restart")
    again.close()
    assert again.recovered == []
    got = [p for _, p in ReadingRollManager("d_*.events", str(tmp_path / "first" / "spool"))]
    assert got == ["before", "after", "restart"]


# -- 11: write order across restarts with the clock stepped back -----------------------------------

STEPPED_WRITER = textwrap.dedent(
    """
    import sys, time
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    class Stepped:  # the wall clock of this process, set `offset` seconds away
        def __init__(self, offset): self.offset = offset
        def time(self): return time.time() + self.offset
        def monotonic(self): return time.monotonic()

    directory, first, offset = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with WritingRollManager("%H%M_{seq}.events", CountRollChecker(roll_records=10), directory,
                            clock=Stepped(offset)) as w:
        for i in range(first, first + 25):
            w.write({"i": str(i)}, str(i))
    """
)


def test_a_restart_after_the_clock_stepped_back_still_reads_in_write_order(
    tmp_path: Path,
) -> None:
    for first, offset in ((0, 0.0), (25, -3600.0), (50, -7200.0)):
        subprocess.run([sys.executable, "-c", STEPPED_WRITER, str(tmp_path), str(first),
                        str(offset)], check=True, timeout=60)
    got = [int(p) for _, p in ReadingRollManager("*.events", str(tmp_path))]
    assert got == list(range(75))
    assert len(os.listdir(tmp_path)) == 9
