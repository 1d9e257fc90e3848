"""Archive format v2: types, framing, checksums, truncation, damage, extensions, round-trips."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write.manager import WritingRollManager

SMALL = [({"i": str(i), "kind": "k" * (i % 3)}, f"payload {i}" if i % 2 else b"bin %d" % i)
         for i in range(7)]

class Reports(list):
    """A ``report`` callable for read_archive that keeps ``(offset, skipped, reason)``."""

    def __call__(self, offset, skipped, reason):
        self.append((offset, skipped, reason))



def write_one(directory: Path, records, name: str = "a.events", **options) -> Path:
    """Write ``records`` into one sealed archive and return its path."""
    options.setdefault("flush_interval", None)
    with WritingRollManager(name, None, str(directory), **options) as writer:
        for metadata, payload in records:
            writer.write(metadata, payload)
    path = directory / name
    assert path.exists()
    return path


def read_strict_prefix(path: Path):
    """Read strictly; return (records yielded, error raised or None)."""
    got = []
    try:
        for record in read_archive(str(path)):
            got.append(record)
    except CorruptArchive as exc:
        return got, exc
    return got, None


@pytest.fixture
def small_archive(tmp_path: Path) -> Path:
    """Seven records in four blocks (two records per block) and an end marker."""
    return write_one(tmp_path, SMALL, block_records=2)


# -- types -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        "",
        b"",
        "plain ascii",
        b"plain bytes",
        "ünïcödé ✓ 日本語 \U0001f4e6 \x00 nul",
        b"\x00\xff\xfe binary \x89SBX",
        "x" * 1_000_000,
        bytes(range(256)) * 4096,
    ],
    ids=["empty-str", "empty-bytes", "ascii", "bytes", "unicode", "binary", "big-str", "big-bytes"],
)
def test_payload_type_is_preserved(tmp_path, payload):
    records = [({"before": "1"}, "x"), ({"k": "v"}, payload), ({}, b"after")]
    path = write_one(tmp_path, records)
    back = list(read_archive(str(path)))
    assert back == records
    assert type(back[1][1]) is type(payload)
    assert type(back[0][1]) is str and type(back[2][1]) is bytes


def test_metadata_values_and_keys_round_trip(tmp_path):
    records = [({"": "", "ключ": "значение", "emoji \U0001f600": "\t\n"}, "p"), ({}, "")]
    assert list(read_archive(str(write_one(tmp_path, records)))) == records


@pytest.mark.parametrize(
    "metadata, named",
    [
        ({1: "one"}, "1"),
        ({"good": "x", "count": 5}, "'count'"),
        ({"none": None}, "'none'"),
        ({"raw": b"bytes"}, "'raw'"),
        ({("tuple", "key"): "v"}, "('tuple', 'key')"),
        ({b"bkey": "v"}, "b'bkey'"),
    ],
)
def test_metadata_with_non_str_key_or_value_is_refused_naming_the_key(tmp_path, metadata, named):
    with WritingRollManager("a.events", None, str(tmp_path), flush_interval=None) as writer:
        writer.write({"ok": "1"}, "first")
        with pytest.raises(TypeError) as info:
            writer.write(metadata, "payload")
        assert named in str(info.value)
        writer.write({"ok": "2"}, "second")
    assert list(read_archive(str(tmp_path / "a.events"))) == [({"ok": "1"}, "first"),
                                                                ({"ok": "2"}, "second")]


@pytest.mark.parametrize("metadata", [None, [("k", "v")], "k=v"])
def test_metadata_that_is_not_a_dict_is_refused(tmp_path, metadata):
    with WritingRollManager("a.events", None, str(tmp_path)) as writer:
        with pytest.raises(TypeError, match="metadata"):
            writer.write(metadata, "payload")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("payload", [None, 5, ["list"], {"d": 1}])
def test_payload_of_the_wrong_type_is_refused(tmp_path, payload):
    with WritingRollManager("a.events", None, str(tmp_path)) as writer:
        with pytest.raises(TypeError, match="payload"):
            writer.write({}, payload)
    assert os.listdir(tmp_path) == []


# -- layout ------------------------------------------------------------------------------------
def test_file_header_and_block_framing(small_archive, layout):
    data = small_archive.read_bytes()
    assert data[:8] == _v2.MAGIC
    fields, length = _v2.read_file_header(open(small_archive, "rb"), str(small_archive))
    assert {"sync", "created_ns", "seq", "writer", "codec", "checksum"} <= set(fields)
    assert fields["codec"] == "none" and fields["checksum"] == "crc32c"
    blocks = layout(small_archive)
    assert blocks[0]["offset"] == length
    assert [b["kind"] for b in blocks] == [_v2.KIND_RECORDS] * 4 + [_v2.KIND_END]
    assert [b["count"] for b in blocks] == [2, 2, 2, 1, 7]
    assert blocks[-1]["end"] == len(data)
    for block in blocks:  # every block starts with the file's sync marker
        assert data[block["offset"] : block["offset"] + 16] == fields["sync"]


# -- truncation --------------------------------------------------------------------------------
def test_truncation_at_every_byte_offset_is_reported(small_archive, tmp_path, layout):
    data = small_archive.read_bytes()
    boundaries = {b["offset"] for b in layout(small_archive)}
    cut_path = tmp_path / "cut.events"
    for cut in range(1, len(data)):
        cut_path.write_bytes(data[:cut])
        got, error = read_strict_prefix(cut_path)
        assert error is not None, f"truncation at byte {cut} passed silently"
        assert error.path == str(cut_path)
        assert isinstance(error.offset, int) and 0 <= error.offset <= cut
        assert str(cut_path) in str(error) and f"byte {error.offset}" in str(error)
        assert got == SMALL[: len(got)], f"wrong record returned after truncation at {cut}"
        if cut in boundaries:
            # Exactly at a block boundary: every complete block is returned, then the truncation
            # is reported at the boundary.
            assert isinstance(error, TruncatedArchive), cut
            assert error.offset == cut
            assert len(got) == min(2 * sorted(boundaries).index(cut), len(SMALL))


def test_lenient_reading_of_a_truncated_archive_returns_every_complete_block(
    small_archive, tmp_path, layout
):
    data = small_archive.read_bytes()
    blocks = layout(small_archive)
    cut_path = tmp_path / "cut.events"
    for cut in range(blocks[0]["offset"], len(data)):
        cut_path.write_bytes(data[:cut])
        damage = Reports()
        got = list(read_archive(str(cut_path), lenient=True, report=damage))
        complete = [b for b in blocks if b["end"] <= cut]
        assert got == SMALL[: sum(b["count"] for b in complete if b["kind"] == 1)], cut
        start = complete[-1]["end"] if complete else blocks[0]["offset"]
        assert [(offset, skipped) for offset, skipped, _ in damage] == [(start, cut - start)], cut


def test_truncated_archive_is_a_corrupt_archive():
    assert issubclass(TruncatedArchive, CorruptArchive)


# -- flipped bytes -----------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_a_flipped_byte_anywhere_is_detected_and_no_wrong_record_is_returned(
    small_archive, tmp_path, mask
):
    data = small_archive.read_bytes()
    bad_path = tmp_path / "bad.events"
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= mask
        bad_path.write_bytes(damaged)
        got, error = read_strict_prefix(bad_path)
        assert error is not None, f"byte {i} flipped (^{mask:#x}) passed silently"
        assert error.path == str(bad_path) and isinstance(error.offset, int)
        assert got == SMALL[: len(got)], f"wrong record returned with byte {i} flipped"


def test_lenient_reader_skips_only_the_damaged_block(small_archive, tmp_path, layout):
    data = small_archive.read_bytes()
    blocks = layout(small_archive)
    bad_path = tmp_path / "bad.events"
    for index, block in enumerate(blocks[:-1]):
        for i in range(block["offset"], block["end"]):
            damaged = bytearray(data)
            damaged[i] ^= 0x01
            bad_path.write_bytes(damaged)
            damage = Reports()
            got = list(read_archive(str(bad_path), lenient=True,
                                    report=damage))
            assert got == SMALL[: 2 * index] + SMALL[2 * index + 2 :], (index, i)
            assert damage == [(block["offset"], block["end"] - block["offset"], damage[0][2])], i


def test_lenient_reader_reports_a_damaged_end_marker(small_archive, tmp_path, layout):
    end = layout(small_archive)[-1]
    data = bytearray(small_archive.read_bytes())
    data[end["offset"] + 20] ^= 0x10
    small_archive.write_bytes(data)
    damage = Reports()
    assert list(read_archive(str(small_archive), lenient=True,
                             report=damage)) == SMALL
    assert [d[0] for d in damage] == [end["offset"]]


def test_lenient_manager_counts_skipped_bytes(small_archive, layout):
    second = layout(small_archive)[1]
    data = bytearray(small_archive.read_bytes())
    data[second["end"] - 1] ^= 0xFF
    small_archive.write_bytes(data)
    with pytest.raises(CorruptArchive) as info:
        list(ReadingRollManager("a.events", str(small_archive.parent)))
    assert info.value.offset == second["offset"]
    assert info.value.path == str(small_archive)
    reader = ReadingRollManager("a.events", str(small_archive.parent), lenient=True)
    assert list(reader) == SMALL[:2] + SMALL[4:]
    assert len(reader.damage) == 1
    (damage,) = reader.damage
    assert damage.path == str(small_archive)
    assert damage.offset == second["offset"]
    assert damage.skipped_bytes == second["end"] - second["offset"]
    assert reader.skipped_bytes == damage.skipped_bytes
    assert "checksum" in damage.reason


def test_lenient_reader_reads_a_compressed_archive_with_a_damaged_block(tmp_path, layout):
    records = [({"i": str(i)}, "compressible " * 50 + str(i)) for i in range(9)]
    path = write_one(tmp_path, records, block_records=3, compression="zstd")
    blocks = layout(path)
    assert [b["codec"] for b in blocks[:-1]] == [_v2.CODEC_ZSTD] * 3
    data = bytearray(path.read_bytes())
    data[blocks[1]["end"] - 3] ^= 0x40
    path.write_bytes(data)
    with pytest.raises(CorruptArchive):
        list(read_archive(str(path)))
    assert list(read_archive(str(path), lenient=True)) == records[:3] + records[6:]


# -- trailing data -----------------------------------------------------------------------------
def test_data_appended_after_the_end_marker_is_reported(small_archive):
    size = small_archive.stat().st_size
    with open(small_archive, "ab") as f:
        f.write(b"J" * 100)
    got, error = read_strict_prefix(small_archive)
    assert got == SMALL
    assert error is not None and "after the end marker" in str(error)
    assert error.offset == size and error.path == str(small_archive)
    damage = Reports()
    assert list(read_archive(str(small_archive), lenient=True,
                             report=damage)) == SMALL
    assert [(offset, skipped) for offset, skipped, _ in damage] == [(size, 100)]


# -- hand-built archives: extensions --------------------------------------------------------------
def _records_block(sync: bytes, records, *, flags: int = 0) -> bytes:
    body = msgpack.packb(list(records), use_bin_type=True)
    head = _v2.pack_block_header(sync, kind=_v2.KIND_RECORDS, count=len(records),
                                 stored=len(body), raw_len=len(body), codec=_v2.CODEC_NONE,
                                 body_crc=_v2.crc32c(body), flags=flags)
    return head + body


def _header(sync: bytes) -> bytes:
    return _v2.pack_file_header({"sync": sync, "created_ns": 1, "seq": 0, "codec": "none",
                                   "future field": {"nested": [1, 2]}})


def test_unknown_block_kinds_are_skipped(tmp_path):
    """A future writer may add block kinds (with their own counts and codecs): old readers skip
    them, and the end marker counts records only."""
    sync = _v2.new_sync()
    body = b"an index, a bloom filter, anything"
    data = _header(sync)
    data += _records_block(sync, [({"a": "1"}, "x")])
    data += _v2.encode_block_header(sync, 7, 3, body, len(body), _v2.CODEC_NONE) + body
    data += _v2.encode_block_header(sync, 200, 0, body, 4096, _v2.CODEC_ZSTD) + body  # no frame
    data += _records_block(sync, [({"a": "2"}, b"y"), ({"a": "3"}, "z")])
    data += _v2.encode_end_block(sync, 3, {"sealed_ns": 2, "blocks": 2, "future": True})
    path = tmp_path / "future.events"
    path.write_bytes(data)
    assert list(read_archive(str(path))) == [({"a": "1"}, "x"), ({"a": "2"}, b"y"),
                                             ({"a": "3"}, "z")]


def test_an_unknown_codec_is_damage_even_in_an_unknown_block_kind(tmp_path):
    sync = _v2.new_sync()
    body = b"anything"
    data = _header(sync) + _v2.encode_block_header(sync, 200, 0, body, 4096, 9) + body
    data += _v2.encode_end_block(sync, 0, {"sealed_ns": 2, "blocks": 0})
    path = tmp_path / "future.events"
    path.write_bytes(data)
    with pytest.raises(CorruptArchive, match="unknown block codec 9") as info:
        list(read_archive(str(path)))
    assert info.value.offset == len(_header(sync))


def test_records_with_extension_elements_read_back_as_pairs(tmp_path):
    sync = _v2.new_sync()
    data = _header(sync)
    data += _records_block(sync, [({"a": "1"}, "x", {"tag": 1}), ({"a": "2"}, b"y", 5, "more")],
                           flags=_v2.FLAG_RECORD_EXTENSIONS)
    data += _records_block(sync, [({"a": "3"}, "z")])
    data += _v2.encode_end_block(sync, 3, {"sealed_ns": 1, "blocks": 2})
    path = tmp_path / "ext.events"
    path.write_bytes(data)
    assert list(read_archive(str(path))) == [({"a": "1"}, "x"), ({"a": "2"}, b"y"),
                                             ({"a": "3"}, "z")]


def test_records_with_extra_elements_but_no_flag_are_corrupt(tmp_path):
    sync = _v2.new_sync()
    data = _header(sync) + _records_block(sync, [({"a": "1"}, "x", "extra")])
    data += _v2.encode_end_block(sync, 1, {})
    path = tmp_path / "noflag.events"
    path.write_bytes(data)
    with pytest.raises(CorruptArchive, match="extension flag is not set"):
        list(read_archive(str(path)))


def test_end_marker_with_a_wrong_count_is_corrupt(tmp_path):
    sync = _v2.new_sync()
    data = _header(sync) + _records_block(sync, [({}, "x")]) + _v2.encode_end_block(sync, 2, {})
    path = tmp_path / "count.events"
    path.write_bytes(data)
    with pytest.raises(CorruptArchive, match="end marker"):
        list(read_archive(str(path)))


def test_msgpack_extension_types_are_refused(tmp_path):
    sync = _v2.new_sync()
    body = msgpack.packb([({"a": "1"}, msgpack.ExtType(5, b"x"))], use_bin_type=True)
    head = _v2.encode_block_header(sync, _v2.KIND_RECORDS, 1, body, len(body), _v2.CODEC_NONE)
    path = tmp_path / "ext.events"
    path.write_bytes(_header(sync) + head + body + _v2.encode_end_block(sync, 1, {}))
    with pytest.raises(CorruptArchive):
        list(read_archive(str(path)))


def test_a_wrong_format_version_is_refused(small_archive):
    data = bytearray(small_archive.read_bytes())
    data[8] = 3
    small_archive.write_bytes(data)
    with pytest.raises(CorruptArchive, match="version 3"):
        list(read_archive(str(small_archive)))


# -- round trip ----------------------------------------------------------------------------------
records_strategy = st.lists(
    st.tuples(
        st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=5),
        st.one_of(st.text(max_size=300), st.binary(max_size=300)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=records_strategy, codec=st.sampled_from(["none", "zstd"]),
       block_records=st.integers(1, 8))
def test_round_trip_of_arbitrary_records(records, codec, block_records):
    with tempfile.TemporaryDirectory() as directory:
        path = write_one(Path(directory), records, compression=codec,
                         block_records=block_records)
        back = list(read_archive(str(path)))
    assert back == records
    assert [type(p) for _, p in back] == [type(p) for _, p in records]
