"""Fuzzing the readers: random bytes and mutated archives of both versions.

The only errors a reader may raise are the library's documented ones; it must not hang, must not
return a record that was never written, and its memory must stay bounded whatever a length field
claims.
"""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoebox_core.errors import CorruptArchive, ShoeboxError
from shoebox_core.format import v1 as _v1
from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import read_archive
from shoebox_core.write.checkers import NeverRollChecker
from shoebox_core.write.manager import WritingRollManager
from tests.format.legacy_v1_writer import pack_v1

FUZZ = settings(
    max_examples=int(os.environ.get("SHOEBOX_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

RECORDS = [({"i": str(i), "k": "v" * (i % 7)}, f"payload {i} " + "x" * (i * 13 % 200))
           for i in range(120)]


def _v2_archive(tmp: Path, compression: str = "none") -> bytes:
    with WritingRollManager("f.events", NeverRollChecker(), str(tmp), block_records=16,
                            compression=compression, flush_interval=None) as writer:
        for metadata, payload in RECORDS:
            writer.write(metadata, payload)
    return (tmp / "f.events").read_bytes()


def _v1_archive() -> bytes:
    return b"".join(pack_v1(m, p) for m, p in RECORDS)


@pytest.fixture(scope="module")
def v2_plain(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _v2_archive(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def v2_zstd(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _v2_archive(tmp_path_factory.mktemp("zstd"), "zstd")


def _read(tmp: Path, data: bytes, *, lenient: bool) -> tuple[list, Exception | None]:
    path = tmp / "fuzzed.events"
    path.write_bytes(data)
    got: list = []
    try:
        for record in read_archive(str(path), lenient=lenient, report=lambda *a: None):
            got.append(record)
    except ShoeboxError as exc:  # the documented errors
        assert isinstance(exc, CorruptArchive), exc
        assert exc.path == str(path)
        return got, exc
    return got, None


def _check(tmp: Path, data: bytes) -> None:
    strict, error = _read(tmp, data, lenient=False)
    assert strict == RECORDS[: len(strict)], "a strict reader returned a record never written"
    lenient, lenient_error = _read(tmp, data, lenient=True)
    assert lenient_error is None, f"a lenient reader raised {lenient_error!r}"
    originals = {(tuple(sorted(m.items())), p) for m, p in RECORDS}
    assert all((tuple(sorted(m.items())), p) in originals for m, p in lenient)
    if error is None:  # nothing said: then nothing was lost (an empty file holds no records)
        assert strict == RECORDS or data == b"", "a strict reader stopped early, silently"


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("zero"), st.integers(0, 10**6), st.integers(1, 64)),
)


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, where, arg in ops:
        if not buf:
            break
        at = where % len(buf)
        if op == "flip":
            buf[at] ^= arg
        elif op == "cut":
            del buf[at:]
        elif op == "insert":
            buf[at:at] = bytes([arg])
        elif op == "delete":
            del buf[at : at + arg]
        else:
            buf[at : at + arg] = bytes(min(arg, len(buf) - at))
    return bytes(buf)


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_v2_archives(tmp_path: Path, v2_plain: bytes, ops: list) -> None:
    _check(tmp_path, _mutate(v2_plain, ops))


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_v2_archives_with_zstd_blocks(tmp_path: Path, v2_zstd: bytes, ops: list) -> None:
    _check(tmp_path, _mutate(v2_zstd, ops))


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    _check(tmp_path, data)


@FUZZ
@given(tail=st.binary(max_size=2048))
def test_random_bytes_after_a_valid_v2_header(tmp_path: Path, v2_plain: bytes, tail: bytes) -> None:
    _, header_len = _v2.read_file_header(io.BytesIO(v2_plain), "x")
    _check(tmp_path, v2_plain[:header_len] + tail)


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_v1_archives(tmp_path: Path, ops: list) -> None:
    data = _mutate(_v1_archive(), ops)
    path = tmp_path / "legacy.events"
    path.write_bytes(data)
    for lenient in (False, True):
        try:
            records = list(read_archive(str(path), lenient=lenient))
        except CorruptArchive as exc:
            assert not lenient, f"lenient v1 reader raised {exc!r}"
            continue
        # v1 has no checksums: a flipped payload byte cannot be detected, so only the shape of
        # what comes back is checked.
        assert all(isinstance(m, dict) and isinstance(p, str) for m, p in records)


def _peak_mib(path: Path, lenient: bool) -> float:
    tracemalloc.start()
    try:
        try:
            list(read_archive(str(path), lenient=lenient))
        except CorruptArchive:
            pass
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("lenient", [False, True])
def test_a_lying_v2_block_length_does_not_allocate_it(tmp_path: Path, v2_plain: bytes,
                                                      lenient: bool) -> None:
    """A block header with valid checksums claiming ~1 GiB, in a file of a few KB."""
    fields, header_len = _v2.read_file_header(io.BytesIO(v2_plain), "x")
    head = _v2.pack_block_header(fields["sync"], kind=_v2.KIND_RECORDS, count=1,
                                 stored=_v2.MAX_BLOCK, raw_len=_v2.MAX_BLOCK, codec=0, body_crc=0)
    path = tmp_path / "liar.events"
    path.write_bytes(v2_plain[:header_len] + head + b"\x00" * 4000)
    assert _peak_mib(path, lenient) < 32


@pytest.mark.parametrize("lenient", [False, True])
def test_a_lying_v1_length_does_not_allocate_it(tmp_path: Path, lenient: bool) -> None:
    record = bytearray(pack_v1({"a": "b"}, "payload"))
    struct.pack_into("<i", record, 10, 2**31 - 1)  # payload block length
    path = tmp_path / "liar_v1.events"
    path.write_bytes(bytes(record) + b"\x00" * 4000)
    assert _peak_mib(path, lenient) < 32


def test_nothing_in_an_archive_is_executed(tmp_path: Path, v2_plain: bytes) -> None:
    """msgpack extension types (the only hook for building objects) are refused as damage."""
    import msgpack

    fields, header_len = _v2.read_file_header(io.BytesIO(v2_plain), "x")
    body = msgpack.packb([[{"a": "b"}, msgpack.ExtType(1, b"os.system('boom')")]])
    block = _v2.encode_block_header(fields["sync"], _v2.KIND_RECORDS, 1, body, len(body), 0) + body
    end = _v2.encode_end_block(fields["sync"], 1, {})
    path = tmp_path / "ext.events"
    path.write_bytes(v2_plain[:header_len] + block + end)
    with pytest.raises(CorruptArchive, match="extension type"):
        list(read_archive(str(path)))
    assert _v1.sniff(b"\x84\x78\x86\x69\x01\x00") and not _v1.sniff(b"\x93NUMPY")


def test_a_record_larger_than_the_read_step_still_reads(tmp_path: Path) -> None:
    big = os.urandom(40 * 2**20)  # bigger than the reader's 16 MiB growth step
    with WritingRollManager("big.events", NeverRollChecker(), str(tmp_path),
                            max_record_bytes=64 * 2**20) as writer:
        writer.write({"a": "b"}, big)
        writer.write({"a": "c"}, "small")
    got = list(read_archive(str(tmp_path / "big.events")))
    assert got[0][1] == big and got[1] == ({"a": "c"}, "small")
