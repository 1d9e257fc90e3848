"""The background on-close worker: order, bounded backlog, failures kept and reported."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shoebox_core.errors import CallbackError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.background import BackgroundCloser, BacklogFull
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager


def test_files_are_closed_in_submission_order() -> None:
    seen: list[str] = []
    closer = BackgroundCloser(lambda p: seen.append(p) or p + ".done")
    for i in range(50):
        closer.submit(f"f{i}")
    assert closer.close(timeout=10)
    assert seen == [f"f{i}" for i in range(50)]
    assert closer.done == [f"f{i}.done" for i in range(50)]
    assert closer.stats().done == 50 and closer.stats().backlog == 0


def test_a_full_backlog_blocks_then_raises_by_policy() -> None:
    release = threading.Event()

    def slow(path: str) -> str:
        release.wait(10)
        return path

    closer = BackgroundCloser(slow, max_backlog=2)
    closer.submit("a")
    closer.submit("b")
    blocked = threading.Thread(target=closer.submit, args=("c",))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "submit must wait while the backlog is full"
    assert closer.stats().backlog == 2 and closer.stats().oldest_age > 0
    release.set()
    blocked.join(5)
    assert not blocked.is_alive()
    assert closer.close(10) and closer.done == ["a", "b", "c"]

    release.clear()
    raising = BackgroundCloser(slow, max_backlog=1, when_full="raise")
    raising.submit("x")
    with pytest.raises(BacklogFull, match="max_backlog=1"):
        raising.submit("y")
    release.set()
    assert raising.close(10)


def test_failures_are_kept_and_the_worker_goes_on() -> None:
    def chain(path: str) -> str:
        if path == "bad":
            raise CallbackError("boom", callback="gzip", path=path)
        return path

    closer = BackgroundCloser(chain)
    for name in ("ok1", "bad", "ok2"):
        closer.submit(name)
    closer.close(10)
    assert closer.done == ["ok1", "ok2"]
    assert [e.path for e in closer.errors] == ["bad"]


def test_writer_does_not_wait_for_a_slow_chain_and_close_drains_it(tmp_path: Path) -> None:
    release = threading.Event()
    closed: list[str] = []

    class Slow:
        def on_open(self, name: str) -> None:
            pass

        def on_close(self, name: str) -> None:
            release.wait(10)
            closed.append(name)

    writer = WritingRollManager("s_{seq}.events", CountRollChecker(roll_records=10),
                                str(tmp_path), Slow(), max_backlog=8)
    start = time.monotonic()
    for i in range(50):  # five rolls, each handed to the (stalled) worker
        writer.write({"i": str(i)}, "x")
    assert time.monotonic() - start < 2, "write() waited for on_close"
    assert closed == []
    release.set()
    writer.close()
    assert closed == writer.sealed and len(closed) == 5
    assert len(list(ReadingRollManager("s_*.events", str(tmp_path)))) == 50


def test_a_failed_background_callback_is_raised_by_close_and_the_file_kept(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def on_open(self, name: str) -> None:
            pass

        def on_close(self, name: str) -> None:
            raise OSError("disk on fire")

    writer = WritingRollManager("b_{seq}.events", CountRollChecker(roll_records=5),
                                str(tmp_path), Broken())
    for i in range(7):
        writer.write({"i": str(i)}, "x")
    with pytest.raises(CallbackError) as caught:
        writer.close()
    assert "broken" in str(caught.value)
    assert len(list(ReadingRollManager("b_*.events", str(tmp_path)))) == 7
