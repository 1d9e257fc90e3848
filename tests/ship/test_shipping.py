"""Shipping off the write path: retries with backoff, a bounded backlog, counters, events, the
status of a directory, and resuming after a restart."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest

from shoebox_core.errors import CallbackError, ConfigError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.background import (
    BackgroundCloser,
    BacklogFull,
    RetryPolicy,
    ShippingEvent,
    is_permanent,
)
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.ship.journal import find_journals
from shoebox_core.ship.status import directory_status, format_status
from shoebox_core.ship.transfer import Transfer
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager

FAST = {"max_attempts": 3, "initial_delay": 0.01, "max_delay": 0.05, "requeue_after": 0.2}


class FlakyTransfer(Transfer):
    """A memory:// transfer whose store can be taken down (uploads and lookups then fail)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.down = threading.Event()
        self.uploads: list[str] = []

    def remote_info(self, remote: str) -> Any:
        if self.down.is_set():
            raise ConnectionRefusedError("the store is down")
        return super().remote_info(remote)

    def upload(self, local: str, remote: str, digest: Any) -> None:
        if self.down.is_set():
            raise ConnectionRefusedError("the store is down")
        self.uploads.append(remote)
        super().upload(local, remote, digest)


class DownAtFirst(Transfer):
    """A transfer whose first ``failures`` uploads find the store down (connection refused)."""

    def __init__(self, failures: int, **options: Any) -> None:
        super().__init__(**options)
        self.failures = failures
        self.tries = 0

    def upload(self, local: str, remote: str, digest: Any) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise ConnectionRefusedError("the store is down")
        super().upload(local, remote, digest)


def memory_url() -> str:
    return f"memory://shipping-tests/{uuid.uuid4().hex}"


def objects(url: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(url)
    return sorted(path[len(root) + 1 :] for path in fs.find(root))


# -- the retry policy -----------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_jittered_down() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=10, multiplier=2, jitter=0.5)
    rng = random.Random(7)
    for attempt, base in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays), attempt
        assert max(delays) - min(delays) > base * 0.3, "jitter spreads the delays"
    assert RetryPolicy(jitter=0, initial_delay=3).delay(1) == 3


def test_the_policy_takes_strings_and_mappings_and_refuses_nonsense() -> None:
    policy = RetryPolicy.from_options({"max_attempts": "7", "initial_delay": "0.25"})
    assert (policy.max_attempts, policy.initial_delay) == (7, 0.25)
    with pytest.raises(ConfigError, match="max_atempts"):
        RetryPolicy.from_options({"max_atempts": 3})
    for bad in ({"max_attempts": 0}, {"jitter": 2}, {"multiplier": 0.5}, {"initial_delay": "x"}):
        with pytest.raises(ConfigError):
            RetryPolicy.from_options(bad)


# -- the worker -----------------------------------------------------------------------------------


def test_a_failing_chain_is_retried_with_backoff_then_succeeds() -> None:
    calls: list[str] = []
    sleeps: list[float] = []
    events: list[ShippingEvent] = []

    def chain(path: str) -> str:
        calls.append(path)
        if len(calls) < 3:
            raise CallbackError("store down", callback="s3", path=path)
        return path + ".zst"

    closer = BackgroundCloser(chain, retry=RetryPolicy(initial_delay=1, jitter=0, max_delay=60),
                              sleep=sleeps.append, on_event=events.append)
    closer.submit("a")
    assert closer.close(10)
    assert calls == ["a"] * 3 and sleeps == [1.0, 2.0]
    assert closer.done == ["a.zst"] and closer.errors == []
    stats = closer.stats()
    assert (stats.done, stats.failed, stats.retries, stats.attempts) == (1, 0, 2, 3)
    assert [(e.kind, e.attempt) for e in events] == [("retry", 1), ("retry", 2), ("done", 3)]
    assert events[0].delay == 1.0 and "store down" in (events[0].error or "")


def test_a_file_that_used_its_attempts_is_kept_reported_and_tried_after_a_success() -> None:
    down = True
    seen: list[str] = []

    def chain(path: str) -> str:
        seen.append(path)
        if down and path == "a":
            raise CallbackError("store down", callback="s3", path=path)
        return path

    closer = BackgroundCloser(chain, retry={**FAST, "requeue_after": None}, sleep=lambda _: None)
    closer.submit("a")
    assert closer.drain(10)
    assert [e.path for e in closer.errors] == ["a"] and closer.stats().parked == 1
    assert closer.stats().oldest_age >= 0 and closer.pending() == ["a"]
    down = False
    closer.submit("b")  # succeeds: the store is back, so the parked file is tried again
    assert closer.close(10)
    assert seen == ["a", "a", "a", "b", "a"], "one more attempt for the parked file"
    assert closer.done == ["b", "a"] and closer.errors == []
    assert closer.stats().requeued == 1


def test_a_parked_file_is_tried_again_after_requeue_after_without_new_files() -> None:
    attempts: list[float] = []

    def chain(path: str) -> str:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise CallbackError("down", callback="s3", path=path)
        return path

    closer = BackgroundCloser(chain, retry={**FAST, "max_attempts": 2, "requeue_after": 0.1})
    closer.submit("a")
    deadline = time.monotonic() + 5
    while closer.done != ["a"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closer.done == ["a"] and closer.errors == []
    assert attempts[2] - attempts[1] >= 0.09
    closer.close(5)


def test_permanent_errors_are_not_retried() -> None:
    class Bad(ValueError):
        permanent = True

    calls = []

    def chain(path: str) -> str:
        calls.append(path)
        try:
            raise Bad("bad name")
        except Bad as exc:
            raise CallbackError("bad", callback="s3", path=path) from exc

    closer = BackgroundCloser(chain, retry=FAST, sleep=lambda _: None)
    closer.submit("a")
    closer.close(10)
    assert calls == ["a"] and closer.stats().parked == 0 and is_permanent(closer.errors[0])


def test_close_with_a_timeout_stops_retrying_and_leaves_the_rest_pending() -> None:
    def chain(path: str) -> str:
        raise CallbackError("down", callback="s3", path=path)

    closer = BackgroundCloser(chain, retry={"max_attempts": 100, "initial_delay": 5})
    for name in "abc":
        closer.submit(name)
    start = time.monotonic()
    assert closer.close(timeout=0.3) is False
    assert time.monotonic() - start < 3, "the retry wait is cut short"
    assert set(closer.pending()) == {"a", "b", "c"}, "nothing finished, nothing forgotten"


def test_a_full_backlog_with_policy_raise_defers_the_file_instead_of_dropping_it() -> None:
    release = threading.Event()
    done: list[str] = []

    def chain(path: str) -> str:
        release.wait(10)
        done.append(path)
        return path

    closer = BackgroundCloser(chain, max_backlog=1, when_full="raise")
    closer.submit("a")
    with pytest.raises(BacklogFull, match="queued as soon as there is room"):
        closer.submit("b")
    assert closer.stats().backlog == 2 and "b" in closer.pending()
    release.set()
    assert closer.close(10)
    assert done == ["a", "b"]


# -- the writer -----------------------------------------------------------------------------------


def test_a_dead_store_never_blocks_write_beyond_the_backlog_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    url = memory_url()
    transfer = FlakyTransfer(url=url, remove_local=True)
    events: list[ShippingEvent] = []
    writer = WritingRollManager(
        "d_{seq}.events", CountRollChecker(roll_records=10), str(tmp_path),
        [ZstdCallback(), transfer], max_backlog=4, when_full="raise",
        retry={**FAST, "max_attempts": 50, "max_delay": 0.02}, on_shipping_event=events.append,
    )
    records = [({"i": str(i)}, f"p{i}") for i in range(200)]
    transfer.down.set()
    refused: list[tuple[dict[str, str], str]] = []
    start = time.monotonic()
    for metadata, payload in records[:100]:
        try:
            writer.write(metadata, payload)
        except BacklogFull:
            refused.append((metadata, payload))  # not stored: the caller writes it again later
    assert time.monotonic() - start < 2, "write() never waits for a dead store"
    while writer.shipping_stats().retries == 0 and time.monotonic() - start < 30:
        time.sleep(0.01)  # the worker's first retry
    stats = writer.shipping_stats()
    assert refused and stats.backlog >= 4 and stats.retries > 0
    assert stats.oldest_age > 0 and objects(url) == []
    # The store is down: the head of the backlog probes and the worker says what waits.
    assert any(e.kind == "waiting" and "connection refused" in (e.error or "") for e in events)
    transfer.down.clear()
    for metadata, payload in refused + records[100:]:
        while True:
            try:
                writer.write(metadata, payload)
                break
            except BacklogFull:
                time.sleep(0.005)  # not stored: wait for room, write it again
    writer.close()
    assert sorted(os.listdir(tmp_path)) == [], "every file shipped, verified and removed"
    assert objects(url) == [f"d_{i:06d}.events.zst" for i in range(20)]
    assert len(transfer.uploads) == 20, "each file uploaded exactly once"
    got = list(ReadingRollManager(f"{url}/d_*.events"))
    assert sorted(got, key=lambda r: int(r[0]["i"])) == records, "every record exactly once"
    final = writer.shipping_stats()
    assert (final.files_done, final.files_failed, final.backlog) == (20, 0, 0)
    assert final.shipped_files == 20 and final.shipped_bytes > 0


def test_files_given_up_at_close_stay_journaled_and_the_next_writer_ships_them(
    tmp_path: Path,
) -> None:
    url = memory_url()
    transfer = FlakyTransfer(url=url, remove_local=True)
    transfer.down.set()
    writer = WritingRollManager("g_{seq}.events", CountRollChecker(roll_records=5),
                                str(tmp_path), [ZstdCallback(), transfer], retry=FAST)
    for i in range(12):
        writer.write({"i": str(i)}, "x")
    with pytest.raises(CallbackError, match="connection refused"):
        writer.close()
    status = directory_status(str(tmp_path))
    # The first file probed the dead store (its attempts used up); the others were compressed,
    # then waited for it (the circuit breaker): their uploads were not tried.
    assert (status.waiting, status.failed, status.writing) == (3, 3, 0)
    assert {f.next_step for f in status.files} == {"fsspec"}
    assert all(f.done == 1 and f.name.endswith(".zst") and f.size for f in status.files)
    assert status.files[0].attempts >= 3
    assert all(f.attempts >= 1 and "connection refused" in (f.error or "") for f in status.files)
    text = format_status(status, verbose=True)
    assert "3 sealed file(s) not finished (3 failed" in text and "next: fsspec" in text
    assert json.loads(json.dumps(status.to_dict()))["failed"] == 3

    again = FlakyTransfer(url=url, remove_local=True)
    compressing = ZstdCallback()
    with WritingRollManager("g_{seq}.events", CountRollChecker(roll_records=5), str(tmp_path),
                            [compressing, again]) as writer:
        writer.write({"i": "12"}, "x")
    assert os.listdir(tmp_path) == [] and find_journals(str(tmp_path)) == []
    assert objects(url) == [f"g_{i:06d}.events.zst" for i in range(4)]
    assert [m["i"] for m, _ in ReadingRollManager(f"{url}/g_*.events")] == [
        str(i) for i in range(13)
    ]


def test_a_file_that_gave_up_then_ships_at_close_is_not_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool, remote = tmp_path / "spool", tmp_path / "remote"
    transfer = DownAtFirst(2, url=str(remote), remove_local=True)
    writer = WritingRollManager(
        "late_{seq}.events", CountRollChecker(roll_records=5), str(spool),
        [ZstdCallback(), transfer], retry={**FAST, "max_attempts": 2, "requeue_after": None},
    )
    records = [({"i": str(i)}, f"p{i}") for i in range(5)]
    writer.write_many(records)
    with caplog.at_level(logging.ERROR, logger="shoebox"):
        writer.close()  # its two attempts failed; the store is back: shipped, nothing to raise
    assert os.listdir(spool) == [] and os.listdir(remote) == ["late_000000.events.zst"]
    assert transfer.tries == 3, "two failed attempts, then the one that shipped it"
    stats = writer.shipping_stats()
    assert (stats.files_done, stats.files_failed, stats.backlog) == (1, 0, 0)
    assert writer.callback_errors == []
    assert "giving up on" in caplog.text, "each give-up is still logged"
    assert list(ReadingRollManager(str(remote / "late_*.events"))) == records


def test_files_held_during_an_outage_ship_at_close_once_the_store_is_back(
    tmp_path: Path,
) -> None:
    spool, remote = tmp_path / "spool", tmp_path / "remote"
    transfer = FlakyTransfer(url=str(remote), remove_local=True)
    events: list[ShippingEvent] = []
    # One attempt a file, and the next probe of the store far off: the first file gives up, the
    # others are held (not tried while the store is down) and wait for that probe.
    writer = WritingRollManager(
        "held_{seq}.events", CountRollChecker(roll_records=5), str(spool),
        [ZstdCallback(), transfer], on_shipping_event=events.append,
        retry={"max_attempts": 1, "initial_delay": 30, "multiplier": 1, "jitter": 0,
               "requeue_after": None},
    )
    transfer.down.set()
    records = [({"i": str(i)}, f"p{i}") for i in range(15)]
    writer.write_many(records)
    assert writer.closer is not None and writer.closer.drain(10)
    assert writer.closer.stats().parked >= 2 and transfer.uploads == []
    transfer.down.clear()  # back before the probe is due: close() tries them at once
    start = time.monotonic()
    writer.close()
    assert time.monotonic() - start < 10, "close() did not wait for the probe"
    assert os.listdir(spool) == [] and len(transfer.uploads) == 3
    assert sorted(os.listdir(remote)) == [f"held_{i:06d}.events.zst" for i in range(3)]
    assert writer.shipping_stats().files_failed == 0 and writer.callback_errors == []
    assert any(e.kind == "requeued" for e in events)
    got = list(ReadingRollManager(str(remote / "held_*.events")))
    assert sorted(got, key=lambda r: int(r[0]["i"])) == records


def test_status_of_an_active_writer_and_of_an_empty_directory(tmp_path: Path) -> None:
    assert directory_status(str(tmp_path / "none")).files == ()
    writer = WritingRollManager("s_{seq}.events", None, str(tmp_path),
                                Transfer(url=memory_url()))
    writer.write({}, "x")
    status = directory_status(str(tmp_path))
    assert (status.writing, status.waiting) == (1, 0)
    assert status.files[0].active is True and status.files[0].size is None
    assert directory_status(str(tmp_path), pattern="other_*.events").files == ()
    (tmp_path / "broken.events.state").write_text("{")
    assert len(directory_status(str(tmp_path)).unreadable) == 1
    os.unlink(tmp_path / "broken.events.state")
    writer.close()
    assert directory_status(str(tmp_path)).files == ()


KILLED_WHILE_SHIPPING = textwrap.dedent(
    """
    import os, signal, sys, threading
    from shoebox_core.ship.compress import ZstdCallback
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.ship.transfer import Transfer
    from shoebox_core.write.manager import WritingRollManager

    flushed = threading.Event()

    class KilledAfterUpload(Transfer):
        # Uploads, verifies, then the process dies before the local file is removed.
        def on_close(self, filename):
            self.ship(filename)
            if filename.endswith("000002.events.zst"):
                flushed.wait(30)
                os.kill(os.getpid(), signal.SIGKILL)
            return super().on_close(filename)

    directory, remote = sys.argv[1:3]
    w = WritingRollManager("r_{seq}.events", CountRollChecker(roll_records=10), directory,
                           [ZstdCallback(), KilledAfterUpload(url=remote, remove_local=True)])
    for i in range(45):
        w.write({"i": str(i)}, "p%d" % i)
    w.flush()  # records 40-44 stay in the in-progress file: recovered after the kill
    flushed.set()
    threading.Event().wait(30)
    """
)


def test_a_restarted_process_ships_each_file_once_under_one_name(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    spool = tmp_path / "spool"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_SHIPPING, str(spool), str(remote)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    shipped_before = sorted(os.listdir(remote))
    assert "r_000002.events.zst" in shipped_before
    assert (spool / "r_000002.events.zst").exists(), "killed before the local copy was removed"

    transfer = Transfer(url=str(remote), remove_local=True)
    with WritingRollManager("r_{seq}.events", CountRollChecker(roll_records=10), str(spool),
                            [ZstdCallback(), transfer]) as writer:
        writer.write({"i": "45"}, "p45")
    assert os.listdir(spool) == []
    names = sorted(os.listdir(remote))
    assert not any("~" in n for n in names), "nothing uploaded twice under two names"
    assert transfer.stats.as_dict()["already_present"] == 1  # r_000002: found, not re-sent
    records = list(ReadingRollManager(str(remote / "r_*.events")))
    assert [m["i"] for m, _ in records] == [str(i) for i in range(46)]
