"""The stacktach-shoebox integration test, on real nova notifications: write 10,000 records rolling
at 1 MiB with an on-open / on-close callback, then read them back by wildcard in the same order."""

from __future__ import annotations

import os

import pytest

from shoebox_core import roll_manager
from shoebox_core.format import v2 as _v2
from shoebox_core.ship.compress import GzipCallback, ZstdCallback
from shoebox_core.write import checkers as roll_checker

MiB = 1024 * 1024
TEMPLATE = "test_%Y_%m_%d_%X_%f.events"


class VerifyOrderCallback:
    """The seed's VerifyArchiveCallback: fails unless files are opened in the expected order."""

    def __init__(self, expected):
        self.expected = list(expected)
        self.opened = []
        self.closed = []

    def on_open(self, filename):
        expected = self.expected.pop(0)
        if filename != expected:
            raise AssertionError(f"Wrong order: got {filename}, expected {expected}")
        self.opened.append(filename)

    def on_close(self, filename):
        self.closed.append(filename)


def write_all(directory, records, callbacks, **options):
    checker = roll_checker.SizeRollChecker(roll_size_mb=1)
    manager = roll_manager.WritingRollManager(TEMPLATE, checker, str(directory),
                                              archive_callback=callbacks, **options)
    for metadata, payload in records:
        manager.write(metadata, payload)
    manager.close()
    return manager


def read_back(directory, records, opened_in_order, recorder):
    verify = VerifyOrderCallback(opened_in_order)
    manager = roll_manager.ReadingRollManager("test_*.events", str(directory),
                                              archive_callback=[verify, recorder])
    count = 0
    while True:
        try:
            metadata, payload = manager.read()
        except roll_manager.NoMoreFiles:
            break
        orig_metadata, orig_payload = records[count]
        assert metadata == orig_metadata, count
        assert payload == orig_payload, count
        count += 1
    assert count == len(records)
    assert verify.expected == [], "some files were not read"
    assert recorder.opened == recorder.closed == opened_in_order
    return manager


def check_writer_callbacks(writer_cb, directory, suffix=""):
    assert len(writer_cb.opened) == len(set(writer_cb.opened)) > 1, "each file opened once"
    assert len(writer_cb.closed) == len(set(writer_cb.closed)) == len(writer_cb.opened)
    if not suffix:
        assert not any(writer_cb.active.values()), "a file was left open"
    # The on-close chain runs in the background worker, so file N may close after file N+1
    # opened; but every file is opened before it is closed, and closes in the order it opened.
    assert writer_cb.closed == [name + suffix for name in writer_cb.opened]
    for name in writer_cb.opened:
        assert writer_cb.events.index(("open", name)) < writer_cb.events.index(
            ("close", name + suffix)
        )
    names = os.listdir(directory)
    assert not [n for n in names if n.endswith((".inprogress", ".partial"))], names
    assert sorted(names) == sorted(os.path.basename(p) for p in writer_cb.closed)


def test_nova_records_roll_at_one_mib_and_read_back_in_order(
    tmp_path, nova_records, recorder_cls, layout, record_size
):
    writer_cb = recorder_cls()
    writer = write_all(tmp_path, nova_records, writer_cb)
    check_writer_callbacks(writer_cb, tmp_path)
    assert writer_cb.closed == writer.sealed
    assert 20 < len(writer.sealed) < 40

    # Inclusive roll, counting bytes on disk: each sealed file but the last reached 1 MiB with its
    # last record, and would be under 1 MiB without it.
    for path in writer.sealed[:-1]:
        blocks = layout(path)
        assert blocks[-1]["kind"] == _v2.KIND_END and blocks[-1]["end"] == os.path.getsize(path)
        last = [b for b in blocks if b["kind"] == _v2.KIND_RECORDS][-1]
        assert os.path.getsize(path) >= MiB
        assert last["end"] >= MiB
        if last["count"] > 1:
            without_last = last["end"] - record_size(last["records"][-1])
        else:
            without_last = last["offset"]
        assert without_last < MiB, path
    assert os.path.getsize(writer.sealed[-1]) < MiB + 10_000

    read_back(tmp_path, nova_records, writer_cb.opened, recorder_cls())


def test_nova_records_with_per_block_zstd(tmp_path, nova_records, recorder_cls):
    writer_cb = recorder_cls()
    writer = write_all(tmp_path, nova_records, writer_cb, compression="zstd")
    check_writer_callbacks(writer_cb, tmp_path)
    sizes = [os.path.getsize(p) for p in writer.sealed]
    assert len(sizes) > 1
    assert all(size >= MiB for size in sizes[:-1]), "a compressed file rolled before 1 MiB on disk"
    # ~10x smaller than the uncompressed run, never far past the limit.
    assert all(size < MiB + 256 * 1024 for size in sizes)
    read_back(tmp_path, nova_records, writer_cb.opened, recorder_cls())


@pytest.mark.parametrize("make_callback, suffix", [(GzipCallback, ".gz"), (ZstdCallback, ".zst")],
                         ids=["gzip", "zstd"])
def test_nova_records_compressed_on_close(tmp_path, nova_records, recorder_cls, make_callback,
                                          suffix):
    writer_cb = recorder_cls()
    # The recorder runs after the compressor, so it sees each file's final (compressed) name.
    writer = write_all(tmp_path, nova_records, [make_callback(), writer_cb])
    assert writer.callback_errors == []
    check_writer_callbacks(writer_cb, tmp_path, suffix=suffix)
    assert all(name.endswith(".events" + suffix) for name in os.listdir(tmp_path))
    assert writer_cb.closed == [p + suffix for p in writer.sealed]
    read_back(tmp_path, nova_records, writer_cb.closed, recorder_cls())
