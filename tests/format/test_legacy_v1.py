"""Tests of the stacktach-shoebox "version 1" reader, ``shoebox_core.format.v1``."""

from __future__ import annotations

import gzip
import io
import random
import struct
import tracemalloc
from pathlib import Path

import pytest

from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.format.v1 import MAGIC_BE, MAGIC_LE, iter_records, sniff
from tests.format.legacy_v1_writer import pack_v1

PATH = "t.events"
NOVA = ({"event": "compute.instance.create.start", "request_id": "req-1", "uuid": ""}, '{"a": 1}')
SAMPLES = [
    NOVA,
    ({}, ""),
    ({"clé": "värde ✓", "": "empty key"}, "payload with ünïcödé and\na newline"),
    ({"k": "v"}, "x" * 5000),
]
MIDDLE = ({"event": "x", "uuid": "u"}, '{"payload": true}')


@pytest.fixture(scope="module")
def legacy_dir(shared_data: Path) -> Path:
    """The directory of the four stacktach-shoebox v1 sample files."""
    return shared_data / "legacy-v1"


@pytest.fixture(scope="module")
def expected(nova_records: list[tuple[dict[str, str], str]]) -> list[tuple[dict[str, str], str]]:
    """The 1,200 records the sample files hold: the first nova notifications (93 of them have no
    payload.instance_id at all; the files hold "" for those, as the shared fixture does)."""
    return nova_records[:1200]


class ReadOnly:
    """A stream with nothing but ``read()`` (no seek or tell), returning at most ``most`` bytes."""

    def __init__(self, raw: io.BufferedIOBase | gzip.GzipFile, most: int = 1 << 30):
        self._raw = raw
        self._most = most

    def read(self, n: int = -1) -> bytes:
        return self._raw.read(self._most if n < 0 else min(n, self._most))


def read(data: bytes, **kwargs) -> list[tuple[dict[str, str], str]]:
    return list(iter_records(io.BytesIO(data), PATH, **kwargs))


def read_lenient(data: bytes, **kwargs) -> tuple[list, list[tuple[int, int, str]]]:
    reports: list[tuple[int, int, str]] = []
    records = read(data, lenient=True, report=lambda *args: reports.append(args), **kwargs)
    return records, reports


def read_until_error(data: bytes, error: type[Exception]) -> tuple[list, Exception]:
    """The records yielded before ``error`` is raised, and the error."""
    got = []
    with pytest.raises(error) as info:
        for record in iter_records(io.BytesIO(data), PATH):
            got.append(record)
    return got, info.value


def pack_all(records, big_endian: bool = False) -> bytes:
    return b"".join(pack_v1(m, p, big_endian=big_endian) for m, p in records)


# --- the real files --------------------------------------------------------------------------


def test_sample_files_hold_the_first_1200_nova_records(legacy_dir, expected):
    files = sorted(legacy_dir.glob("*.events"))
    assert len(files) == 4
    records = []
    for path in files:
        with open(path, "rb") as fh:
            records.extend(iter_records(fh, str(path)))
    assert len(records) == len(expected) == 1200
    for i, (got, want) in enumerate(zip(records, expected)):
        # Python 2's json.dumps(sort_keys=True) gave exactly the same text as Python 3's here.
        assert got == want, f"record {i}"


def test_sample_files_are_clean_in_lenient_mode(legacy_dir, expected):
    reports: list = []
    records = []
    for path in sorted(legacy_dir.glob("*.events")):
        with open(path, "rb") as fh:
            records.extend(iter_records(fh, str(path), lenient=True, report=reports.append))
    assert records == expected and reports == []


def test_reads_through_gzip_without_seek_or_tell(legacy_dir, expected, tmp_path):
    source = sorted(legacy_dir.glob("*.events"))[-1]
    with open(source, "rb") as fh:
        plain = list(iter_records(fh, str(source)))
    copy = tmp_path / (source.name + ".gz")
    copy.write_bytes(gzip.compress(source.read_bytes()))
    with gzip.open(copy, "rb") as fh:
        records = list(iter_records(ReadOnly(fh), str(copy)))
    assert records == plain == expected[-len(plain) :]


def test_pack_v1_reproduces_the_original_bytes(legacy_dir):
    source = sorted(legacy_dir.glob("*.events"))[0]
    data = source.read_bytes()
    metadata, payload = next(iter_records(io.BytesIO(data), str(source)))
    record = pack_v1(metadata, payload)  # the dict keeps the file's key order
    assert data[: len(record)] == record


def test_sniff(legacy_dir):
    for path in legacy_dir.glob("*.events"):
        assert sniff(path.read_bytes()[:6])
    assert sniff(pack_v1({}, "", big_endian=True))
    assert sniff(MAGIC_LE + b"\x01\x00") and sniff(MAGIC_BE + b"\x00\x01")
    gzip_head = b"\x1f\x8b\x08\0\0\0"
    for head in (b"", MAGIC_LE, MAGIC_LE + b"\x02\x00", MAGIC_LE + b"\x00\x01", gzip_head):
        assert not sniff(head)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
def test_round_trip(big_endian):
    data = pack_all(SAMPLES, big_endian)
    assert data.startswith(MAGIC_BE if big_endian else MAGIC_LE)
    assert read(data) == SAMPLES
    assert read(data, lenient=True) == SAMPLES
    assert list(iter_records(ReadOnly(io.BytesIO(data), most=7), PATH)) == SAMPLES


def test_blocks_larger_than_one_read_chunk():
    big = ({"k": "€" * 700_000}, "€" * 1_100_000)  # ~2 and ~3 MiB blocks
    data = pack_all([big, NOVA])
    assert read(data) == [big, NOVA]
    assert list(iter_records(ReadOnly(io.BytesIO(data), most=4093), PATH)) == [big, NOVA]
    _, error = read_until_error(data[: len(data) // 2], TruncatedArchive)
    assert error.offset == 0 and "payload block" in error.reason
    with pytest.raises(CorruptArchive, match="metadata block length .* exceeds max_block"):
        read(data, max_block=1 << 20)


def test_empty_stream_yields_nothing():
    assert read(b"") == []
    assert read_lenient(b"") == ([], [])


def test_byte_order_may_not_change_within_a_file():
    first = pack_v1(*NOVA)
    got, error = read_until_error(first + pack_v1(*NOVA, big_endian=True), CorruptArchive)
    assert got == [NOVA] and error.offset == len(first) and "byte order" in str(error)


# --- strict mode: truncation and corruption --------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
def test_truncation_anywhere_in_the_last_record(big_endian):
    records = [pack_v1(m, p, big_endian=big_endian) for m, p in SAMPLES[:3]]
    data = b"".join(records)
    last = len(data) - len(records[-1])
    for cut in range(last + 1, len(data)):
        got, error = read_until_error(data[:cut], TruncatedArchive)
        assert got == SAMPLES[:2]
        assert (error.path, error.offset) == (PATH, last), cut
        assert str(error).startswith(f"{PATH} at byte {last}: ")
        records_read, reports = read_lenient(data[:cut])
        assert records_read == SAMPLES[:2]
        assert reports == [(last, cut - last, error.reason)]
    # v1 has no end marker: a cut exactly at a record boundary cannot be seen.
    assert read(data[:last]) == SAMPLES[:2]


@pytest.mark.parametrize(
    ("tail", "error", "reason"),
    [
        (MAGIC_LE[:2], TruncatedArchive, "preamble"),
        (MAGIC_LE + b"\x01", TruncatedArchive, "preamble"),
        (MAGIC_LE + b"\x02", CorruptArchive, "version 2"),
        (b"\x84\x00", CorruptArchive, "bad magic"),
        (b"\n", CorruptArchive, "bad magic"),
    ],
)
def test_a_partial_preamble_at_the_end(tail, error, reason):
    first = pack_v1(*NOVA)
    got, raised = read_until_error(first + tail, error)
    assert type(raised) is error and got == [NOVA]
    assert raised.offset == len(first) and reason in raised.reason
    assert read_lenient(first + tail) == ([NOVA], [(len(first), len(tail), raised.reason)])


# The base record for corruption cases: pack_v1({"k": "v", "j": "w"}, "payload") is 53 bytes:
# 0 magic, 4 version, 6 metadata length (24), 10 payload length (11), 14 end marker,
# 18 count (8), 22/26/30/34 lengths of k, v, j, w, 38-41 "kvjw", 42 payload length (7), 46 payload.
BASE = ({"k": "v", "j": "w"}, "payload")


def _int(offset, value):
    def mutate(rec: bytearray, order: str) -> None:
        struct.pack_into(order + "i", rec, offset, value)

    return mutate


def _byte(offset, value):
    def mutate(rec: bytearray, order: str) -> None:
        rec[offset] = value

    return mutate


def _version(rec: bytearray, order: str) -> None:
    struct.pack_into(order + "h", rec, 4, 2)


CORRUPTIONS = {
    "flipped first magic byte": (_byte(0, 0x00), "bad magic"),
    "flipped last magic byte": (_byte(3, 0x00), "bad magic"),
    "version 2": (_version, "version 2"),
    "non-zero end marker": (_int(14, 1), "end-of-record marker"),
    "huge metadata length": (_int(6, 2**31 - 1), "exceeds max_block"),
    "huge payload length": (_int(10, 2**31 - 1), "exceeds max_block"),
    "negative metadata length": (_int(6, -5), "negative metadata block length"),
    "negative payload length": (_int(10, -1), "negative payload block length"),
    "metadata block too short": (_int(6, 3), "too short"),
    "count not a multiple of 4": (_int(18, 6), "multiple of 4"),
    "negative count": (_int(18, -8), "multiple of 4"),
    "count overruns its block": (_int(18, 400), "overruns"),
    "huge count": (_int(18, 2**31 - 4), "overruns"),
    "lengths do not add up": (_int(22, 2), "does not equal"),
    "negative key length": (_int(22, -1), "negative metadata key or value length"),
    "payload length mismatch": (_int(42, 3), "payload length 3"),
    "invalid UTF-8 key": (_byte(38, 0xFF), "invalid UTF-8 in metadata key 0"),
    "invalid UTF-8 value": (_byte(41, 0xC3), "invalid UTF-8 in metadata value 1"),
    "invalid UTF-8 payload": (_byte(52, 0xFF), "invalid UTF-8 in payload"),
    "duplicate key": (_byte(40, ord("k")), "duplicate metadata key"),
}


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corruption_is_reported_with_path_and_offset(case, big_endian):
    mutate, reason = CORRUPTIONS[case]
    order = ">" if big_endian else "<"
    first = pack_v1(*NOVA, big_endian=big_endian)
    bad = bytearray(pack_v1(*BASE, big_endian=big_endian))
    assert len(bad) == 53
    mutate(bad, order)
    data = first + bytes(bad) + pack_v1(*NOVA, big_endian=big_endian)
    got, error = read_until_error(data, CorruptArchive)
    assert type(error) is CorruptArchive, error
    assert got == [NOVA]
    assert (error.path, error.offset) == (PATH, len(first))
    assert reason in str(error)
    assert str(error).startswith(f"{PATH} at byte {len(first)}: ")
    # The same damage in lenient mode: every other record, one report for the damaged stretch.
    records, reports = read_lenient(data)
    assert records == [NOVA, NOVA]
    assert reports == [(len(first), len(bad), error.reason)]


def test_max_block_limits_each_block():
    data = pack_all([({"k": "v"}, "x" * 1000)])
    assert read(data, max_block=1004)
    with pytest.raises(CorruptArchive, match="payload block length 1004 exceeds max_block 1000"):
        read(data, max_block=1000)


@pytest.mark.parametrize("field", [6, 10], ids=["metadata", "payload"])
def test_a_2gb_length_on_a_100_byte_file_is_not_allocated(field):
    record = bytearray(pack_v1({"k": "v"}, "x" * 64))
    assert len(record) == 100
    struct.pack_into("<i", record, field, 2**31 - 1)
    data = bytes(record)
    with pytest.raises(CorruptArchive, match="exceeds max_block"):
        read(data)
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedArchive) as info:
            read(data, max_block=2**31)
        records, reports = read_lenient(data, max_block=2**31)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.offset == 0
    assert records == [] and reports == [(0, 100, info.value.reason)]
    assert peak < 4 << 20


# --- lenient mode ----------------------------------------------------------------------------


def _cut_short(rec: bytes) -> bytes:
    return rec[:-3]  # the payload block then swallows the start of the next record


def _overlong(rec: bytes) -> bytes:
    bad = bytearray(rec)
    struct.pack_into("<i", bad, 10, struct.unpack_from("<i", bad, 10)[0] + 40)
    return bytes(bad)


def _flip(offset):
    def damage(rec: bytes) -> bytes:
        bad = bytearray(rec)
        bad[offset] ^= 0xFF
        return bytes(bad)

    return damage


@pytest.mark.parametrize(
    "damage",
    [_flip(0), _flip(5), _flip(14), _flip(18), _flip(-1), _cut_short, _overlong, lambda r: r[:9]],
    ids=["magic", "version", "end-marker", "count", "payload", "cut-short", "overlong", "stub"],
)
def test_lenient_skips_a_damaged_middle_record(damage):
    bad = damage(pack_v1(*MIDDLE))
    head = pack_v1(*SAMPLES[0])
    data = head + bad + pack_all(SAMPLES[1:])
    with pytest.raises(CorruptArchive) as info:
        read(data)
    assert info.value.offset == len(head)
    records, reports = read_lenient(data)
    assert records == SAMPLES
    assert len(reports) == 1
    assert reports[0][:2] == (len(head), len(bad)) and reports[0][2] == info.value.reason
    assert read(data, lenient=True) == SAMPLES  # report is optional


def test_lenient_skips_garbage_before_between_and_after_records():
    fake = b"junk" + MAGIC_LE + b"\x01\x00" + b"\xff" * 20  # a preamble that starts no record
    data = b"\x00garbage" + pack_all(SAMPLES[:2]) + fake + pack_all(SAMPLES[2:]) + b"tail"
    records, reports = read_lenient(data)
    assert records == SAMPLES
    between = 8 + len(pack_all(SAMPLES[:2]))
    assert [r[:2] for r in reports] == [(0, 8), (between, len(fake)), (len(data) - 4, 4)]
    assert "bad magic" in reports[0][2]


def test_lenient_finds_a_big_endian_file_after_leading_garbage():
    data = b"xyz" + pack_all(SAMPLES, big_endian=True)
    records, reports = read_lenient(data)
    assert records == SAMPLES and [r[:2] for r in reports] == [(0, 3)]


def test_lenient_on_a_file_that_is_not_v1():
    data = b"this is not a shoebox file at all\n" * 10
    records, reports = read_lenient(data)
    assert records == [] and [r[:2] for r in reports] == [(0, len(data))]


def test_random_damage_never_raises_in_lenient_mode_and_every_byte_is_accounted_for():
    rng = random.Random(20140201)
    clean = pack_all(SAMPLES[:3] + [MIDDLE] * 3)
    for _ in range(400):
        data = bytearray(clean)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            kind = rng.randrange(4)
            if kind == 0:
                data[at] = rng.randrange(256)
            elif kind == 1:
                del data[at : at + rng.randint(1, 40)]
            elif kind == 2:
                data[at:at] = rng.randbytes(rng.randint(1, 40))
            else:
                del data[at:]
                break
        data = bytes(data)
        records, reports = read_lenient(data)
        kept = sum(len(pack_v1(m, p)) for m, p in records)
        assert kept + sum(r[1] for r in reports) == len(data)
        try:
            assert read(data) == records and reports == []
        except CorruptArchive as error:
            assert error.offset == reports[0][0] and error.reason == reports[0][2]
