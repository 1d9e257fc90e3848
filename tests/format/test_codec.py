"""The record codec's two paths, compiled and pure Python, are one codec.

Hypothesis proves, for awkward records too, that the C extension and the pure-Python reference
encode byte-identical records, write byte-identical archives through the writer (``write`` and
``write_many``), read identical records back (also from damaged blocks) and refuse bad input with
identical errors. The fast path itself is held to msgpack-python's own bytes, so it cannot hide
behind its fallback. ``tests/test_pure_python.py`` reruns the format, writer and reader tests on
the pure-Python path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoebox_core.clock import FakeClock
from shoebox_core.errors import RecordTooLarge
from shoebox_core.format import codec
from shoebox_core.format import v2 as _v2
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.write.intake import PythonIntake
from shoebox_core.write.manager import WritingRollManager

try:
    from shoebox_core.format import _native
except ImportError:  # pragma: no cover - a failure, not a skip: CI machines have a compiler
    pytest.fail("the C extension shoebox_core.format._native is not built: "
                "run 'pip install -e .' where a C compiler and the Python headers are installed",
                pytrace=False)
# What format.codec does when it selects the extension (under SHOEBOX_PURE_PYTHON=1 it does not
# import it, but these tests compare both paths).
_native.set_fallbacks(codec.pure_encode_record, codec.pure_encode_batch, codec.pure_decode_block)

EXAMPLES = settings(
    max_examples=int(os.environ.get("SHOEBOX_CODEC_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ARCHIVES = settings(EXAMPLES, max_examples=max(10, EXAMPLES.max_examples // 4))
PACK = msgpack.Packer(use_bin_type=True).pack

# Text of every kind, lone surrogates excluded (they cannot be stored; tested apart), with the
# lengths where msgpack's str headers change (31/32, 255/256, 65535/65536 bytes) reachable.
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", "a" * 31, "a" * 32, "é" * 127 + "a", "b" * 255, "c" * 256, "d" * 65535,
                     "e" * 65536, "日本語", "\x00", "\U0001f600"]),
)
BINARY = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"x" * 255, b"x" * 256,
                                                              b"y" * 65535, b"y" * 65536]))
METADATA = st.one_of(
    st.dictionaries(TEXT, TEXT, max_size=6),
    st.dictionaries(st.text(max_size=4), st.just("v"), min_size=15, max_size=20),  # map16
)
PAYLOAD = st.one_of(TEXT, BINARY)
RECORD = st.tuples(METADATA, PAYLOAD)


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    """What a call gives: its result, or its error's type and message."""
    try:
        return "ok", call(*args)
    except Exception as exc:  # noqa: BLE001 - comparing whatever each path raises
        return type(exc).__name__, str(exc)


# -- one record -----------------------------------------------------------------------------------
def test_the_codec_in_use_is_the_one_asked_for():
    assert codec.NATIVE is (os.environ.get("SHOEBOX_PURE_PYTHON") != "1")


@EXAMPLES
@given(RECORD)
def test_a_record_encodes_to_the_same_bytes_on_both_paths(record):
    metadata, payload = record
    expected = PACK((metadata, payload))
    assert _native.encode_record_fast(metadata, payload) == expected  # not via the fallback
    assert _native.encode_record(metadata, payload) == expected
    assert codec.pure_encode_record(metadata, payload) == expected


class Frozen(Mapping):
    """A read-only Mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Text(str):
    pass


AWKWARD = [
    ({}, ""),
    ({}, b""),
    ({"ключ": "значение", "": ""}, "ñ" * 40),
    (types.MappingProxyType({"a": "b"}), "proxy"),
    (Frozen({"a": "b", "c": "d"}), b"frozen"),
    (OrderedDict([("z", "1"), ("a", "2")]), "ordered"),
    (type("Sub", (dict,), {})(a="1"), "dict subclass"),
    ({Text("k"): Text("v")}, Text("str subclasses")),
    ({"k": "v"}, bytearray(b"bytearray")),
    ({"k": "v"}, memoryview(b"memoryview")),
    # refused, each with its own error
    ({"k": 1}, "x"),
    ({2: "v"}, "x"),
    ({"k": None}, "x"),
    (["not", "a", "dict"], "x"),
    (None, "x"),
    ({"k": "v"}, 3.5),
    ({"k": "v"}, None),
    ({"n": "lone \ud800"}, "x"),
    ({"bad \udcff": "x"}, "payload"),
    ({"k": "v"}, "lone \ud800 in the payload"),
    ({"k": "\ud800"}, 1),  # the type error comes first
]


@pytest.mark.parametrize("record", AWKWARD, ids=range(len(AWKWARD)))
def test_awkward_records_are_stored_or_refused_the_same_way(record):
    native = _outcome(_native.encode_record, *record)
    assert native == _outcome(codec.pure_encode_record, *record)
    if native[0] == "ok":
        metadata, payload = record
        plain = bytes(payload) if isinstance(payload, (bytearray, memoryview)) else payload
        assert native[1] == PACK((dict(metadata), plain))


@EXAMPLES
@given(st.dictionaries(TEXT, TEXT, max_size=4), TEXT, st.integers(0, 5))
def test_a_lone_surrogate_is_refused_naming_where_it_is(metadata, payload, where):
    keys = list(metadata)
    if where < len(keys) and where % 2:
        metadata[keys[where]] = metadata[keys[where]] + "\udc80"
        place = f"the metadata value for key {keys[where]!r}"
    elif where < len(keys):
        metadata[keys[where] + "\ud800"] = "v"
        place = f"metadata key {keys[where] + chr(0xD800)!r}"
    else:
        payload = "\udfff" + payload
        place = "the payload"
    native = _outcome(_native.encode_record, metadata, payload)
    assert native == _outcome(codec.pure_encode_record, metadata, payload)
    assert native[0] == "UnicodeEncodeError" and f"(in {place})" in native[1]


@EXAMPLES
@given(st.lists(st.one_of(RECORD, st.sampled_from(AWKWARD)), max_size=30), st.integers(1, 80000))
def test_a_batch_encodes_the_same_on_both_paths(records, limit):
    native = _outcome(_native.encode_batch, records, limit)
    assert native == _outcome(codec.pure_encode_batch, records, limit)
    if all(_well_formed(*record) for record in records):
        packed = [PACK(r) for r in records]
        assert native[1] == (packed if all(len(d) < limit for d in packed) else None)
    else:
        assert native == ("ok", None)


def _well_formed(metadata: Any, payload: Any) -> bool:
    """What the fast path takes: a plain dict of str to str, a str or bytes, no lone surrogate."""
    if type(metadata) is not dict or type(payload) not in (str, bytes):
        return False
    strings = [s for pair in metadata.items() for s in pair]
    if type(payload) is str:
        strings.append(payload)
    return all(type(s) is str and s.encode("utf-8", "surrogatepass") == s.encode("utf-8", "ignore")
               for s in strings)


# -- one block ------------------------------------------------------------------------------------
def _body(records: list[tuple[Any, Any]]) -> bytes:
    return _v2.ARRAY32.pack(0xDD, len(records)) + b"".join(PACK(r) for r in records)


@EXAMPLES
@given(st.lists(RECORD, max_size=40))
def test_a_block_decodes_to_the_same_records_on_both_paths(records):
    body = _body(records)
    expected = tuple((dict(m), p) for m, p in records)
    fast = _native.decode_block_fast(body, len(records))
    assert fast == expected and all(type(p) is type(q) for (_, p), (_, q) in zip(fast, records))
    assert _native.decode_block(memoryview(body), len(records), 0) == expected
    assert codec.pure_decode_block(body, len(records), 0) == expected


# Blocks the fast path leaves to the reference: other msgpack types, other array forms, damage.
ODD_BLOCKS = [
    (msgpack.packb([[{"k": 1}, "x"]]), 1),  # an int value
    (msgpack.packb([[{b"k": "v"}, "x"]], use_bin_type=True), 1),  # a bin key
    (msgpack.packb([[["k"], "x"]]), 1),  # metadata not a map
    (msgpack.packb([[{"k": "v"}, 5]]), 1),  # an int payload
    (msgpack.packb([[{"k": "v"}, "x", "extra"]]), 1),  # three elements, flag not set
    (msgpack.packb([[{"k": "v"}, "x"]]) + b"\xc0", 1),  # a byte after the array
    (msgpack.packb([[{"k": "v"}, "x"]]), 2),  # a count that lies
    (msgpack.packb([[{"k": "v"}, "x"]])[:-1], 1),  # cut short
    (b"\x91\x92\x81\xa1k\xa2\xff\xfe\xa1x", 1),  # invalid UTF-8
    (b"\x91\x92\x81\xa1k\xa1v\xd4\x01\x00", 1),  # an extension type
    (msgpack.packb([[{"k": "v", "k": "w"}, "x"]]), 1),  # noqa: F601 - a repeated key
    (b"\x91\x92\x82\xa1k\xa1v\xa1k\xa1w\xa1x", 1),  # a repeated key, as encoded by hand
    (b"\xdc\x00\x01\x92\xde\x00\x01\xa1k\xda\x00\x01v\xc5\x00\x01x", 1),  # long forms
    (b"\xdd\xff\xff\xff\xff", 0xFFFFFFFF),  # a count no body can hold
    (b"", 0),
    (b"\x90", 0),
]


@pytest.mark.parametrize("body, count", ODD_BLOCKS, ids=range(len(ODD_BLOCKS)))
@pytest.mark.parametrize("flags", [0, 1, 2, 0x8000])
def test_odd_blocks_are_read_or_refused_the_same_way(body, count, flags):
    native = _outcome(_native.decode_block, body, count, flags)
    assert native == _outcome(codec.pure_decode_block, body, count, flags)
    if flags & ~1:  # FORMAT.md: an unknown flag bit is damage, whatever the body
        assert native[0] == "ValueError" and "flag" in native[1]


# Values of every msgpack type a record must not hold where a str (or a map) belongs.
WRONG = st.one_of(st.integers(-(2**63), 2**64 - 1), st.none(), st.booleans(), st.floats(),
                  st.binary(max_size=8), st.lists(st.text(max_size=3), max_size=2),
                  st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


@EXAMPLES
@given(st.lists(RECORD, min_size=1, max_size=6), st.data())
def test_records_of_the_wrong_types_are_refused_the_same_way_naming_them(records, data):
    """FORMAT.md: a well-checksummed record with a value of the wrong type is damage; both paths
    refuse it with the same message, naming the record (and the key)."""
    rows = [[dict(m), p] for m, p in records]
    i = data.draw(st.integers(0, len(rows) - 1))
    where = data.draw(st.sampled_from(["value", "key", "metadata", "payload"]))
    wrong = data.draw(WRONG)
    if where == "value":
        rows[i][0]["k"] = wrong if not isinstance(wrong, str) else 1
    elif where == "key":
        wrong = data.draw(st.one_of(st.integers(), st.binary(max_size=4)))
        rows[i][0] = {wrong: "v"}
    elif where == "metadata":
        rows[i][0] = wrong if not isinstance(wrong, dict) else [1]
    else:
        rows[i][1] = wrong if not isinstance(wrong, (bytes, str)) else None
    try:
        body = msgpack.packb(rows, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return  # a key msgpack-python will not pack
    native = _outcome(_native.decode_block, body, len(rows), 0)
    assert native == _outcome(codec.pure_decode_block, body, len(rows), 0)
    assert native[0] != "ok" and f"record {i} of the block" in native[1] or (
        where == "key" and native[0] == "ValueError"), native


@EXAMPLES
@given(st.lists(RECORD, min_size=1, max_size=8), st.data())
def test_damaged_blocks_are_read_or_refused_the_same_way(records, data):
    body = bytearray(_body(records))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at] = data.draw(st.integers(0, 255))
    body = body[: data.draw(st.integers(0, len(body)))]
    count = data.draw(st.sampled_from([len(records), len(records) + 1]))
    assert (_outcome(_native.decode_block, bytes(body), count, 0)
            == _outcome(codec.pure_decode_block, bytes(body), count, 0))


# -- whole archives -----------------------------------------------------------------------------
_IMPLEMENTATIONS = {
    "native": (_native.encode_record, _native.encode_batch, _native.decode_block,
               # (a writer built on the pure path has no compiled base: its write() stays)
               _native.Intake.write if codec.NATIVE else PythonIntake.write),
    "pure": (codec.pure_encode_record, codec.pure_encode_batch, codec.pure_decode_block,
             PythonIntake.write),
}


@contextlib.contextmanager
def path(name: str) -> Iterator[None]:
    """Make every shoebox module that imported the codec's functions use one implementation."""
    wanted = _IMPLEMENTATIONS[name]
    known = {id(f): i for impl in _IMPLEMENTATIONS.values() for i, f in enumerate(impl)}
    known.update({id(codec.encode_record): 0, id(codec.encode_batch): 1,
                  id(codec.decode_block): 2})
    patched = []
    # write() itself: compiled (it calls the compiled encoder directly) or the Python one.
    WritingRollManager.write = wanted[3]
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("shoebox_core") or module is codec:
            continue
        for attr, value in list(vars(module).items()):
            index = known.get(id(value))
            if index is not None and callable(value):
                patched.append((module, attr, value))
                setattr(module, attr, wanted[index])
    assert len(patched) >= 3, "the writer and the reader call the codec"
    try:
        yield
    finally:
        del WritingRollManager.write
        for module, attr, value in patched:
            setattr(module, attr, value)


def _write(directory: Path, records: list[Any], *, many: bool, max_bytes: int = 1 << 20
           ) -> list[tuple[str, Any]]:
    """Write ``records`` (the refused ones noted) into one archive; return what each write gave."""
    clock = FakeClock()
    outcomes = []
    with WritingRollManager("a_{seq}.sbx", None, str(directory), clock=clock, block_records=7,
                            block_bytes=2048, max_record_bytes=max_bytes,
                            flush_interval=None) as writer:
        if many:
            outcomes.append(_outcome(writer.write_many, records))
        for record in records:
            outcomes.append(_outcome(writer.write, *record))
    return outcomes


def _read(directory: Path) -> list[Any]:
    return list(ReadingRollManager("a_*.sbx", str(directory)))


@ARCHIVES
@given(st.lists(st.one_of(RECORD, st.sampled_from(AWKWARD)), max_size=40), st.booleans())
def test_archives_are_byte_identical_and_read_back_identically(tmp_path_factory, monkeypatch,
                                                              records, many):
    monkeypatch.setattr(_v2, "new_sync", lambda: b"S" * 16)
    found = {}
    directories = {}
    for name in ("native", "pure"):
        directory = directories[name] = tmp_path_factory.mktemp(name)
        with path(name):
            outcomes = _write(directory, records, many=many)
            files = sorted(os.listdir(directory))
            found[name] = (outcomes, files, [(directory / f).read_bytes() for f in files],
                           _read(directory))
    assert found["native"] == found["pure"]
    with path("pure"):  # and each path reads what the other wrote
        assert _read(directories["native"]) == found["native"][3]
    with path("native"):
        assert _read(directories["pure"]) == found["native"][3]
    outcomes = found["native"][0]
    singles = outcomes[len(outcomes) - len(records):]
    stored = [_as_read(r) for r, o in zip(records, singles) if o[0] == "ok"]
    if many:  # write_many stores the records before the first one refused
        refused = [i for i, o in enumerate(singles) if o[0] != "ok"]
        stored = [_as_read(r) for r in records[: refused[0] if refused else len(records)]] + stored
    assert found["native"][3] == stored


def _as_read(record: tuple[Any, Any]) -> tuple[dict[str, str], str | bytes]:
    metadata, payload = record
    return dict(metadata), bytes(payload) if not isinstance(payload, str) else str(payload)


@pytest.mark.parametrize("name", ["native", "pure"])
@pytest.mark.parametrize("many", [False, True])
def test_the_largest_record_allowed_and_one_byte_more(tmp_path, name, many):
    limit = 5000
    fits = ({"k": "v"}, "x" * (limit - len(PACK(({"k": "v"}, "")) ) - 2))
    assert len(PACK(fits)) == limit
    over = (fits[0], fits[1] + "x")
    with path(name), WritingRollManager("big.sbx", None, str(tmp_path),
                                        max_record_bytes=limit) as writer:
        if many:
            writer.write_many([fits])
            with pytest.raises(RecordTooLarge, match=f"record of {limit + 1} bytes"):
                writer.write_many([over])
        else:
            writer.write(*fits)
            with pytest.raises(RecordTooLarge, match=f"record of {limit + 1} bytes"):
                writer.write(*over)
    with path(name):
        assert list(ReadingRollManager("big.sbx", str(tmp_path))) == [fits]


def test_each_path_reads_what_the_other_wrote(tmp_path, nova_records):
    records = nova_records[:500] + [({}, b"\x00\xff"), ({"ü": "ß"}, "")]
    for writer_path, reader_path in (("native", "pure"), ("pure", "native")):
        directory = tmp_path / writer_path
        with path(writer_path):
            with WritingRollManager("x.sbx", None, str(directory)) as writer:
                writer.write_many(records[:250])
                for record in records[250:]:
                    writer.write(*record)
        with path(reader_path):
            assert list(ReadingRollManager("x.sbx", str(directory))) == records
