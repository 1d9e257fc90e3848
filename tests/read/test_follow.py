"""Live reading (issue 14): listing again before the end, following a writer in another process
across rolls, compression and recovery, and (issue 10, item 15) files replaced by their ``.zst``
while a reader lists the directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoebox_core.read.manager import NoMoreFiles, ReadingRollManager
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager

# A writer in its own process: records FIRST..LAST-1 of "ev_{seq}.events", rolled every PER_FILE
# records, flushed every BURST records (then a short pause), each sealed file compressed to .zst
# when COMPRESS. With HANG, it stops after the last flush without closing (to be SIGKILLed).
WRITER = textwrap.dedent(
    """
    import sys, time
    from shoebox_core.ship.compress import ZstdCallback
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    directory, first, last, per_file, burst, compress, hang = sys.argv[1:]
    first, last, per_file, burst = int(first), int(last), int(per_file), int(burst)
    writer = WritingRollManager(
        "ev_{seq}.events", CountRollChecker(roll_records=per_file), directory,
        ZstdCallback() if compress == "1" else None, flush_interval=None, block_records=50)
    for i in range(first, last):
        writer.write({"i": str(i)}, "payload %d" % i)
        if (i + 1) % burst == 0:
            writer.flush()
            time.sleep(0.01)
    writer.flush()
    if hang == "1":
        print("flushed", flush=True)
        time.sleep(600)
    writer.close()
    """
)


def record(i: int) -> tuple[dict[str, str], str]:
    return ({"i": str(i)}, f"payload {i}")


def start_writer(directory: Path, first: int, last: int, *, per_file: int = 300,
                 burst: int = 100, compress: bool = False,
                 hang: bool = False) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", WRITER, str(directory), str(first), str(last), str(per_file),
            str(burst), "1" if compress else "0", "1" if hang else "0"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def read_n(reader: ReadingRollManager, n: int, timeout: float = 60) -> list[tuple]:
    got = []
    while len(got) < n:
        try:
            got.append(reader.read(timeout=timeout))
        except NoMoreFiles:
            pytest.fail(f"no record within {timeout}s after {len(got)} records")
    return got


def write_here(directory: Path, first: int, last: int, per_file: int = 300) -> None:
    with WritingRollManager("ev_{seq}.events", CountRollChecker(roll_records=per_file),
                            str(directory), background=False) as writer:
        writer.write_many([record(i) for i in range(first, last)])


# -- without following ---------------------------------------------------------------------------
def test_a_reader_made_before_any_file_reads_the_files_sealed_later(tmp_path: Path) -> None:
    reader = ReadingRollManager("ev_*.events", str(tmp_path))
    with pytest.raises(NoMoreFiles):
        reader.read()
    finish(start_writer(tmp_path, 0, 600))
    assert reader.read() == record(0)
    # Sealed after the reader had listed the directory: read too, after the others, once.
    finish(start_writer(tmp_path, 600, 1500))
    assert list(reader) == [record(i) for i in range(1, 1500)]
    with pytest.raises(NoMoreFiles):
        reader.read()
    assert reader.gaps == [] and reader.damage == []


class Bucket:
    """A fresh bucket on the moto server; archives written locally, then uploaded."""

    def __init__(self, moto, tmp_path: Path) -> None:
        s3fs = pytest.importorskip("s3fs")
        import uuid

        self.options = moto.storage_options()
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.options)
        self.name = f"follow-{uuid.uuid4().hex[:12]}"
        self.fs.mkdir(self.name)
        self.spool = tmp_path / "spool"
        self.pattern = f"s3://{self.name}/x/ev_*.events"

    def add(self, first: int, last: int) -> None:
        """Write records first..last-1 as one sealed archive (300 per file) and upload it."""
        before = set(self.spool.iterdir()) if self.spool.exists() else set()
        write_here(self.spool, first, last)
        for path in sorted(set(self.spool.iterdir()) - before):
            self.fs.put(str(path), f"{self.name}/x/{path.name}")


def test_a_reader_lists_a_bucket_again_before_it_ends(moto, tmp_path: Path) -> None:
    bucket = Bucket(moto, tmp_path)
    bucket.add(0, 600)
    reader = ReadingRollManager(bucket.pattern, storage_options=bucket.options)
    assert read_n(reader, 450) == [record(i) for i in range(450)]
    bucket.add(600, 900)
    assert list(reader) == [record(i) for i in range(450, 900)]


# -- following -------------------------------------------------------------------------------
def test_following_a_writer_that_rolls_flushes_in_bursts_and_compresses(tmp_path: Path) -> None:
    """5,000 records, a roll every 300, bursts of 70, each sealed file replaced by its .zst."""
    with ReadingRollManager("ev_*.events", str(tmp_path), follow=True,
                            poll_interval=0.02) as reader:
        writer = start_writer(tmp_path, 0, 5000, burst=70, compress=True)
        got = read_n(reader, 5000)
        finish(writer)
        assert got == [record(i) for i in range(5000)]
        with pytest.raises(NoMoreFiles):
            reader.read(timeout=0.3)  # nothing returned twice
        assert reader.gaps == [] and reader.damage == []
    names = sorted(os.listdir(tmp_path))
    assert names and all(n.endswith(".events.zst") for n in names), names


def test_a_flushed_record_is_returned_while_the_file_is_being_written(tmp_path: Path) -> None:
    writer = start_writer(tmp_path, 0, 250, burst=250, hang=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "flushed\n"
        names = os.listdir(tmp_path)
        assert len(names) == 1 and names[0].endswith(".inprogress")
        with ReadingRollManager("ev_*.events", str(tmp_path), follow=True,
                                poll_interval=0.02) as reader:
            assert read_n(reader, 250) == [record(i) for i in range(250)]
            with pytest.raises(NoMoreFiles):
                reader.read(timeout=0.2)
    finally:
        writer.kill()
        writer.wait()


def test_following_across_a_writer_killed_and_recovered(tmp_path: Path) -> None:
    """The writer is SIGKILLed with a file in progress; the next writer recovers (seals) it and
    goes on: the follower returns every flushed record once, in order."""
    with ReadingRollManager("ev_*.events", str(tmp_path), follow=True,
                            poll_interval=0.02) as reader:
        first = start_writer(tmp_path, 0, 450, hang=True)
        try:
            assert first.stdout is not None and first.stdout.readline() == "flushed\n"
            assert read_n(reader, 450) == [record(i) for i in range(450)]
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        finish(start_writer(tmp_path, 450, 1000, compress=True))
        assert read_n(reader, 550) == [record(i) for i in range(450, 1000)]
        with pytest.raises(NoMoreFiles):
            reader.read(timeout=0.3)


def test_iteration_waits_until_the_reader_is_stopped(tmp_path: Path) -> None:
    write_here(tmp_path, 0, 10)
    reader = ReadingRollManager("ev_*.events", str(tmp_path), follow=True, poll_interval=0.02)
    got = []
    for item in reader:
        got.append(item)
        if len(got) == 10:
            reader.stop()  # from the loop here; a signal handler or another thread alike
    assert got == [record(i) for i in range(10)]
    reader.close()


def test_poll_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        ReadingRollManager("ev_*.events", str(tmp_path), follow=True, poll_interval=0)


# -- files renamed, compressed or gone (issue 10, item 15) ----------------------------------------
def test_files_replaced_by_their_zst_after_listing_are_read_under_the_new_name(
    tmp_path: Path,
) -> None:
    """More files than the reader keeps open: those it reopens were compressed meanwhile."""
    write_here(tmp_path, 0, 240, per_file=3)
    reader = ReadingRollManager("ev_*.events", str(tmp_path))
    assert reader.read() == record(0)
    compress = ZstdCallback()
    for path in sorted(tmp_path.glob("ev_*.events")):
        compress.on_close(str(path))
    assert not list(tmp_path.glob("ev_*.events"))
    assert list(reader) == [record(i) for i in range(1, 240)]
    assert reader.gaps == []
    reader.close()


def test_a_file_shipped_away_before_it_was_read_is_reported(tmp_path: Path) -> None:
    write_here(tmp_path, 0, 240, per_file=3)
    reader = ReadingRollManager("ev_*.events", str(tmp_path))
    assert reader.read() == record(0)
    gone = sorted(tmp_path.glob("ev_*.events"))[70]
    gone.unlink()
    got = list(reader)
    assert got == [record(i) for i in range(1, 240) if not 210 <= i < 213]
    assert [(g.path, g.block) for g in reader.gaps] == [(str(gone), 0)]
    assert "gone" in reader.gaps[0].reason
    reader.close()


def test_a_reader_listing_while_the_zstd_callback_compresses(tmp_path: Path) -> None:
    """Readers list the directory again and again while a writer's files are replaced by their
    .zst: never a FileNotFoundError, every record of every pass read."""
    writer = start_writer(tmp_path, 0, 3000, per_file=30, burst=30, compress=True)
    passes = 0
    try:
        while writer.poll() is None or passes == 0:
            got = list(ReadingRollManager("ev_*.events", str(tmp_path)))
            assert got == [record(i) for i in range(len(got))]
            passes += 1
    finally:
        finish(writer)
    assert list(ReadingRollManager("ev_*.events", str(tmp_path))) == [
        record(i) for i in range(3000)
    ]
    assert passes > 1


# -- what following costs ------------------------------------------------------------------------
def test_an_idle_follower_costs_a_listing_per_poll_and_no_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locally: while nothing changes, each poll is one directory listing and opens nothing;
    a poll in which the file being written grew opens it once, at its last complete block."""
    import builtins

    from shoebox_core.read import sources

    writer = WritingRollManager("ev_{seq}.events", None, str(tmp_path), flush_interval=None,
                                block_records=10)
    try:
        writer.write_many([record(i) for i in range(20)])
        writer.flush()
        opens: list[str] = []
        listings: list[str] = []
        real_open, real_scandir = builtins.open, sources.os.scandir
        monkeypatch.setattr(builtins, "open", lambda f, *a, **k: (
            opens.append(str(f)) if str(f).startswith(str(tmp_path)) else None,
            real_open(f, *a, **k))[1])
        monkeypatch.setattr(sources.os, "scandir", lambda p: (listings.append(p),
                                                              real_scandir(p))[1])
        with ReadingRollManager("ev_*.events", str(tmp_path), follow=True,
                                poll_interval=0.01) as reader:
            assert read_n(reader, 20) == [record(i) for i in range(20)]
            assert len(opens) == 1  # header and records: one open
            del opens[:], listings[:]
            with pytest.raises(NoMoreFiles):
                reader.read(timeout=0.3)
            assert opens == [] and len(listings) >= 2
            writer.write_many([record(i) for i in range(20, 30)])
            writer.flush()
            assert read_n(reader, 10) == [record(i) for i in range(20, 30)]
            assert len(opens) == 1
    finally:
        writer.close()


@pytest.fixture
def caught_up(moto, tmp_path: Path) -> Iterator[tuple[Bucket, ReadingRollManager]]:
    """A bucket of 300 records and a follower of it (polling every 0.05 s) that read them all."""
    bucket = Bucket(moto, tmp_path)
    bucket.add(0, 300)
    with ReadingRollManager(bucket.pattern, storage_options=bucket.options, follow=True,
                            poll_interval=0.05) as reader:
        assert read_n(reader, 300) == [record(i) for i in range(300)]
        yield bucket, reader


def test_an_idle_follower_of_a_bucket_costs_a_listing_per_poll(
    moto, caught_up: tuple[Bucket, ReadingRollManager]
) -> None:
    """In a bucket: one LIST request per poll while nothing changes, no GET, no HEAD; a new
    small archive costs one GET."""
    from .test_open_once import measure

    bucket, reader = caught_up

    def idle() -> None:
        with pytest.raises(NoMoreFiles):
            reader.read(timeout=0.5)

    objects, listings, heads = measure(moto, idle)
    assert (sum(objects.values()), heads) == (0, 0) and listings >= 2
    bucket.add(300, 600)
    objects, listings, heads = measure(moto, lambda: read_n(reader, 300))
    assert (sorted(objects.values()), heads) == ([1], 0)


def test_a_follower_of_a_bucket_rides_out_the_store_going_down(
    moto, caught_up: tuple[Bucket, ReadingRollManager], caplog: pytest.LogCaptureFixture
) -> None:
    """The store down while following: a warning each poll, no exception; back up, reading goes
    on with what is new."""
    import logging

    bucket, reader = caught_up
    moto.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="shoebox"):
            with pytest.raises(NoMoreFiles):
                reader.read(timeout=1.0)
        assert "cannot list the archives" in caplog.text
    finally:
        moto.start()  # empty: the bucket is made again
    bucket.fs.mkdir(bucket.name)
    bucket.add(300, 600)
    assert read_n(reader, 300) == [record(i) for i in range(300, 600)]
