"""The public format API (``shoebox_core.format``): the one pack / parse pair for each header,
sync markers, reading an open file once, and splitting a file into byte ranges read apart."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

import shoebox_core.format as fmt
from shoebox_core.errors import CorruptArchive, TruncatedArchive
from tests.conftest import archive_layout, written_archive
from tests.format.legacy_v1_writer import pack_v1

RECORDS = [({"i": str(i)}, f"payload {i:05d} " + "x" * (i % 97)) for i in range(600)]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive of 600 records in 60 blocks."""
    return written_archive(tmp_path / "a.events", RECORDS)


def test_every_name_of_the_api_resolves() -> None:
    for name in fmt.__all__:
        assert getattr(fmt, name) is not None, name
    with pytest.raises(AttributeError):
        fmt.no_such_name  # noqa: B018


def test_the_format_package_imports_only_the_errors_of_shoebox() -> None:
    code = (
        "import sys, shoebox_core.format as f\n"
        "[getattr(f, n) for n in f.__all__]\n"
        "import shoebox_core.format.compressed, shoebox_core.format.digests\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('shoebox_core'))))"
    )
    loaded = set(subprocess.check_output([sys.executable, "-c", code], text=True).split())
    outside = {m for m in loaded if not m.startswith("shoebox_core.format")}
    # shoebox_core._lazy: the packages' one lazy-export __getattr__ (no shoebox import of its own).
    assert outside == {"shoebox_core", "shoebox_core.errors", "shoebox_core._lazy"}


def test_a_block_header_packs_and_parses_back() -> None:
    sync = bytes(range(16))
    packed = fmt.pack_block_header(sync, kind=fmt.KIND_RECORDS, count=3, stored=100,
                                   raw_len=250, codec=fmt.CODEC_ZSTD, body_crc=0xDEADBEEF, flags=1)
    assert len(packed) == fmt.BLOCK_HEADER_SIZE
    header = fmt.parse_block_header(b"junk" + packed, 4, sync)
    assert header == fmt.BlockHeader(sync, 100, 250, 3, fmt.KIND_RECORDS, fmt.CODEC_ZSTD, 1,
                                     0xDEADBEEF)


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda h: h[:-1], "file ends inside a block header"),
    (lambda h: b"\xff" + h[1:], "block does not start with the sync marker"),
    (lambda h: h[:20] + bytes([h[20] ^ 1]) + h[21:], "block header checksum mismatch"),
])
def test_a_bad_block_header_says_why(damage, reason) -> None:
    sync = bytes(range(16))
    packed = fmt.pack_block_header(sync, kind=1, count=1, stored=1, raw_len=1, codec=0,
                                   body_crc=0)
    with pytest.raises(ValueError, match=reason):
        fmt.parse_block_header(damage(packed), 0, sync)


def test_a_block_claiming_too_much_is_refused() -> None:
    sync = bytes(16)
    packed = fmt.pack_block_header(sync, kind=1, count=1, stored=2**31, raw_len=1, codec=0,
                                   body_crc=0)
    with pytest.raises(ValueError, match="block claims"):
        fmt.parse_block_header(packed)


def test_a_file_header_packs_and_parses_back() -> None:
    fields = {"sync": bytes(range(16)), "created_ns": 7, "seq": 3, "future": [1, 2]}
    packed = fmt.pack_file_header(fields)
    header = fmt.parse_file_header(packed + b"first block")
    assert header == (fields, len(packed))
    assert (header.sync, header.created_ns, header.seq) == (bytes(range(16)), 7, 3)
    assert fmt.read_file_header(io.BytesIO(packed), "x") == header
    with pytest.raises(TruncatedArchive):
        fmt.parse_file_header(packed[:-1], "x")
    with pytest.raises(CorruptArchive, match="checksum"):
        fmt.parse_file_header(packed[:-1] + bytes([packed[-1] ^ 1]), "x")


def test_the_independent_layout_agrees_with_the_parser(archive: Path) -> None:
    data = archive.read_bytes()
    header = fmt.parse_file_header(data)
    blocks = archive_layout(archive)
    assert blocks[0]["offset"] == header.length
    for block in blocks:
        parsed = fmt.parse_block_header(data, block["offset"], header.sync)
        assert (parsed.kind, parsed.record_count, parsed.codec) == (
            block["kind"], block["count"], block["codec"])
        assert block["end"] == block["offset"] + fmt.BLOCK_HEADER_SIZE + parsed.stored


def test_find_sync_finds_the_next_good_block(archive: Path) -> None:
    data = archive.read_bytes()
    header = fmt.parse_file_header(data)
    starts = [block["offset"] for block in archive_layout(archive)]
    assert fmt.find_sync(data, header.sync) == starts[0]
    assert fmt.find_sync(data, header.sync, starts[0] + 1) == starts[1]
    # A sync marker whose header is damaged is passed over.
    damaged = bytearray(data)
    damaged[starts[1] + 20] ^= 1
    assert fmt.find_sync(damaged, header.sync, starts[0] + 1) == starts[2]
    assert fmt.find_sync(memoryview(data), header.sync, starts[-1] + 1) == -1


def read_range(f, path, begin, end):
    """The recipe of the ``shoebox_core.format`` docstring, word for word."""
    f.seek(0)
    header = fmt.read_file_header(f, path)
    begin = max(begin, header.length)
    f.seek(begin)
    at = fmt.find_sync(f.read(end - begin + fmt.BLOCK_HEADER_SIZE), header.sync)
    if at < 0 or begin + at >= end:
        return  # no block starts in this range
    f.seek(begin + at)
    yield from fmt.iter_records(f, path, header=header, start=begin + at, stop=end)


@pytest.mark.parametrize("pieces", [1, 2, 7, 50, 400])
def test_byte_ranges_read_apart_read_every_record_once(archive: Path, pieces: int) -> None:
    size = archive.stat().st_size
    cuts = [size * i // pieces for i in range(pieces + 1)]
    got = []
    with open(archive, "rb") as f:
        for begin, end in zip(cuts, cuts[1:]):
            got.extend(read_range(f, str(archive), begin, end))
    assert got == RECORDS


def test_read_records_reads_a_pipe_once(archive: Path, tmp_path: Path) -> None:
    """Whole-file compressed or not, v2 or v1: read forward only, never seeking."""
    plain = archive.read_bytes()
    legacy = b"".join(pack_v1(metadata, payload) for metadata, payload in RECORDS[:5])
    cases = [(plain, RECORDS), (gzip.compress(plain), RECORDS),
             (zstandard.ZstdCompressor().compress(plain), RECORDS), (legacy, RECORDS[:5])]
    for data, expected in cases:
        process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(data)
        process.stdin.close()
        assert not process.stdout.seekable()
        assert list(fmt.read_records(process.stdout, "pipe")) == expected
        process.stdout.close()
        process.wait()


def test_open_stream_tells_the_kind_from_the_first_bytes(archive: Path) -> None:
    stream = fmt.open_stream(io.BytesIO(gzip.compress(archive.read_bytes())), "a.events.gz")
    assert (stream.kind, stream.compression) == ("v2", "gzip")
    assert stream.header is not None and stream.header.seq == 0
    assert [r for batch in stream.batches() for r in batch] == RECORDS
    with pytest.raises(TruncatedArchive) as info:  # no writer leaves a 0-byte file
        fmt.open_stream(io.BytesIO(b""), "e")
    assert info.value.offset == 0
    unknown = fmt.open_stream(io.BytesIO(b"hello, world"), "u")
    assert unknown.kind == "unknown"
    with pytest.raises(CorruptArchive, match="unknown magic"):
        list(unknown.batches())
