"""The API contract, from encore.storage's documented behaviour, run on every backend."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from store_testdata import TEST1_METADATA

from shoebox_store import InvalidKey, Value

ALL_KEYS = sorted(["test1", *(f"key{i}" for i in range(10)), "dir/sub/deep", "unicodé/ключ"])


def expected_key(i: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {"query_test1": "value", "query_test2": i}
    if i % 2 == 0:
        metadata["optional"] = True
    return metadata


# -- reading ------------------------------------------------------------------------------------


def test_get(filled: Any) -> None:
    value = filled.get("test1")
    with value.data as data:
        assert data.read() == b"test2\n"
    assert value.metadata == TEST1_METADATA
    assert value.size == 6
    assert isinstance(value.modified, float) and value.modified > 0


def test_get_unpacks_and_is_a_context_manager(filled: Any) -> None:
    data, metadata = filled.get("test1")
    assert data.read() == b"test2\n" and metadata == TEST1_METADATA
    data.close()
    with filled.get("key3") as stream:
        assert stream.read() == b"value3"
    value = filled.get("key4")
    assert len(value) == 2 and value[1] == expected_key(4)
    assert b"".join(value.iterdata(buffer_size=2)) == b"value4"


def test_returned_metadata_is_a_deep_copy(filled: Any) -> None:
    value = filled.get("test1")
    first = value.metadata
    first["a_list"].append("four")
    first["a_dict"]["four"] = 4
    assert value.metadata == TEST1_METADATA
    got = filled.get_metadata("test1")
    got["a_list"].clear()
    assert filled.get_metadata("test1") == TEST1_METADATA
    (key, found), = filled.query(a_str="test3")
    found["a_dict"].clear()
    assert filled.get_metadata("test1") == TEST1_METADATA


def test_missing_keys_raise_key_error(filled: Any) -> None:
    for call in (filled.get, filled.get_data, filled.get_metadata, filled.to_bytes,
                 filled.delete, lambda k: filled.update_metadata(k, {"a": 1}),
                 lambda k: filled.get_data_range(k, 0, 1)):
        with pytest.raises(KeyError):
            call("missing")


def test_get_data_and_ranges_have_slice_semantics(filled: Any) -> None:
    with filled.get_data("test1") as data:
        assert data.read() == b"test2\n"
    for start, end in [(1, 3), (None, 2), (2, None), (-3, None), (0, 100), (4, 2), (None, -1),
                       (6, 7)]:
        with filled.get_data_range("test1", start, end) as data:
            assert data.read() == b"test2\n"[start:end], (start, end)
    value = filled.get("test1")
    assert value.range(1, 3).read() == b"es"
    with pytest.raises(TypeError, match="range start"):
        value.range("1", 3)


def test_get_metadata_select(filled: Any) -> None:
    assert filled.get_metadata("test1", ["a_str", "an_int"]) == {"a_str": "test3", "an_int": 1}
    assert filled.get_metadata("test1", ["a_str", "missing", "a_null"]) == {
        "a_str": "test3", "a_null": None}
    assert filled.get_metadata("test1", []) == {}


def test_exists(filled: Any) -> None:
    assert filled.exists("test1") and filled.exists("dir/sub/deep")
    assert not filled.exists("test2") and not filled.exists("dir/sub")


def test_multiget(filled: Any) -> None:
    values = list(filled.multiget(f"key{i}" for i in range(10)))
    for i, value in enumerate(values):
        with value as data:
            assert data.read() == b"value%d" % i
        assert value.size == 6 and value.metadata == expected_key(i)
    datas = filled.multiget_data(f"key{i}" for i in range(10))
    assert [d.read() for d in datas] == [b"value%d" % i for i in range(10)]
    assert list(filled.multiget_metadata(f"key{i}" for i in range(10))) == [
        expected_key(i) for i in range(10)]
    selected = filled.multiget_metadata((f"key{i}" for i in range(10)),
                                        select=["query_test1", "optional"])
    assert list(selected) == [{k: v for k, v in expected_key(i).items() if k != "query_test2"}
                              for i in range(10)]
    with pytest.raises(KeyError):
        list(filled.multiget(["key1", "nope"]))


def test_query(filled: Any) -> None:
    assert sorted(filled.query(a_str="test3")) == [("test1", TEST1_METADATA)]
    assert sorted(filled.query(query_test1="value")) == sorted(
        (f"key{i}", expected_key(i)) for i in range(10))
    for i in range(10):
        assert list(filled.query(query_test2=i)) == [(f"key{i}", expected_key(i))]
    assert list(filled.query(a_str="test1")) == []
    assert sorted(filled.query(["a_str", "an_int"], a_str="test3")) == [
        ("test1", {"a_str": "test3", "an_int": 1})]
    assert sorted(filled.query(select=["optional"], query_test1="value")) == sorted(
        (f"key{i}", {"optional": True} if i % 2 == 0 else {}) for i in range(10))
    assert sorted(filled.query(query_test1="value", optional=True)) == sorted(
        (f"key{i}", expected_key(i)) for i in range(0, 10, 2))


def test_query_every_json_type_and_missing_names(filled: Any) -> None:
    for name, value in TEST1_METADATA.items():
        assert [k for k, _ in filled.query(**{name: value})] == ["test1"], name
    assert list(filled.query(a_null=None)) == [("test1", TEST1_METADATA)]
    assert list(filled.query(nothing=None)) == []  # a missing name is not None
    assert list(filled.query(an_int=1.0)) == [("test1", TEST1_METADATA)]  # Python equality
    assert list(filled.query(a_list=["one", "two"])) == []
    assert [k for k, _ in filled.query(текст="значение")] == ["unicodé/ключ"]


def test_query_without_terms_returns_everything(filled: Any) -> None:
    assert sorted(k for k, _ in filled.query()) == ALL_KEYS
    assert sorted(filled.query_keys()) == ALL_KEYS


def test_query_keys(filled: Any) -> None:
    assert list(filled.query_keys(a_str="test3")) == ["test1"]
    assert sorted(filled.query_keys(query_test1="value")) == sorted(f"key{i}" for i in range(10))
    assert [list(filled.query_keys(query_test2=i)) for i in range(3)] == [["key0"], ["key1"],
                                                                           ["key2"]]
    assert list(filled.query_keys(a_str="test1")) == []


def test_glob_matches_whole_keys(filled: Any) -> None:
    assert sorted(filled.glob("key*")) == sorted(f"key{i}" for i in range(10))
    assert sorted(filled.glob("key[0-2]")) == ["key0", "key1", "key2"]
    assert list(filled.glob("dir/*")) == ["dir/sub/deep"]  # fnmatchcase: * crosses "/"
    assert list(filled.glob("*deep")) == ["dir/sub/deep"]
    assert list(filled.glob("KEY*")) == []  # case-sensitive everywhere
    assert sorted(filled.glob("*")) == ALL_KEYS


def test_to_bytes_and_to_file(filled: Any, tmp_path: Path) -> None:
    assert filled.to_bytes("test1") == b"test2\n"
    assert filled.to_bytes("unicodé/ключ") == b"\x00\xff"
    target = tmp_path / "out"
    filled.to_file("test1", target)
    assert target.read_bytes() == b"test2\n"
    filled.to_file("key1", str(target))
    assert target.read_bytes() == b"value1"


def test_info_and_connection(filled: Any) -> None:
    info = filled.info()
    assert info["type"] == type(filled).__name__ and info["readonly"] is False
    assert filled.is_connected()


# -- writing ------------------------------------------------------------------------------------


def test_set_new_and_replace(empty: Any) -> None:
    empty.set("k", (io.BytesIO(b"one"), {"v": 1}))
    assert empty.to_bytes("k") == b"one" and empty.get_metadata("k") == {"v": 1}
    empty.set("k", (io.BytesIO(b"two!"), {"w": 2}))
    value = empty.get("k")
    assert (value.data.read(), value.metadata, value.size) == (b"two!", {"w": 2}, 4)
    empty.set("bytes", (b"plain bytes", {}))
    assert empty.to_bytes("bytes") == b"plain bytes"


def test_set_from_a_value(empty: Any) -> None:
    empty.set("src", (io.BytesIO(b"copy me"), {"a": [1, 2]}))
    empty.set("dst", empty.get("src"))
    assert empty.to_bytes("dst") == b"copy me" and empty.get_metadata("dst") == {"a": [1, 2]}


def test_set_copies_metadata(empty: Any) -> None:
    metadata = {"a": [1]}
    empty.set("k", (io.BytesIO(b"x"), metadata))
    metadata["a"].append(2)
    metadata["b"] = 1
    assert empty.get_metadata("k") == {"a": [1]}


def test_set_large_and_buffered(empty: Any) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    empty.set("large", (io.BytesIO(data), {"n": 1}), buffer_size=256 * 1024)
    value = empty.get("large")
    assert value.size == len(data)
    with value as stream:
        assert stream.read() == data
    assert b"".join(value.iterdata(buffer_size=100_000)) == data
    assert value.range(1_000_000, 2_500_000).read() == data[1_000_000:2_500_000]
    with empty.get_data_range("large", -10, None) as tail:
        assert tail.read() == data[-10:]


def test_set_empty_value(empty: Any) -> None:
    empty.set("empty", (io.BytesIO(b""), {}))
    assert empty.to_bytes("empty") == b"" and empty.get("empty").size == 0


def test_set_data(empty: Any) -> None:
    empty.set("k", (io.BytesIO(b"old"), {"keep": True}))
    empty.set_data("k", io.BytesIO(b"new"))
    assert empty.to_bytes("k") == b"new" and empty.get_metadata("k") == {"keep": True}
    empty.set_data("fresh", io.BytesIO(b"data"))
    assert empty.to_bytes("fresh") == b"data" and empty.get_metadata("fresh") == {}


def test_set_metadata_replaces(empty: Any) -> None:
    empty.set("k", (io.BytesIO(b"data"), {"a": 1, "b": 2}))
    empty.set_metadata("k", {"c": 3})
    assert empty.get_metadata("k") == {"c": 3} and empty.to_bytes("k") == b"data"
    empty.set_metadata("new", {"d": 4})  # as encore: a new key with empty data
    assert empty.get_metadata("new") == {"d": 4} and empty.to_bytes("new") == b""


def test_update_metadata_merges(empty: Any) -> None:
    empty.set("k", (io.BytesIO(b"data"), {"a": 1, "b": 2}))
    empty.update_metadata("k", {"b": 20, "c": 30})
    assert empty.get_metadata("k") == {"a": 1, "b": 20, "c": 30}
    assert empty.to_bytes("k") == b"data"


def test_delete(empty: Any) -> None:
    empty.set("k", (io.BytesIO(b"data"), {}))
    empty.set("dir/k", (io.BytesIO(b"data"), {}))
    empty.delete("k")
    assert not empty.exists("k") and list(empty.query_keys()) == ["dir/k"]
    with pytest.raises(KeyError):
        empty.get("k")
    empty.set("k", (io.BytesIO(b"again"), {"n": 2}))
    assert empty.to_bytes("k") == b"again"


def test_multiset_family(empty: Any) -> None:
    empty.multiset(["a", "b", "c"], [(io.BytesIO(b"A"), {"n": 1}), (io.BytesIO(b"B"), {"n": 2})])
    assert sorted(empty.query_keys()) == ["a", "b"]  # zip semantics
    empty.multiset(["a"], [(io.BytesIO(b"A2"), {"n": 3})])
    assert empty.to_bytes("a") == b"A2"
    empty.multiset_data(["a", "b"], [io.BytesIO(b"x"), io.BytesIO(b"y")])
    assert [empty.to_bytes(k) for k in "ab"] == [b"x", b"y"]
    assert empty.get_metadata("b") == {"n": 2}
    empty.multiset_metadata(["a", "b"], [{"m": 1}, {"m": 2}])
    assert [empty.get_metadata(k) for k in "ab"] == [{"m": 1}, {"m": 2}]
    empty.multiupdate_metadata(["a", "b"], [{"u": 1}, {"u": 2}])
    assert [empty.get_metadata(k) for k in "ab"] == [{"m": 1, "u": 1}, {"m": 2, "u": 2}]


def test_multiupdate_metadata_with_a_missing_key_changes_nothing(empty: Any) -> None:
    empty.set("a", (b"1", {"v": 1}))
    with pytest.raises(KeyError):
        empty.multiupdate_metadata(["a", "missing"], [{"v": 2}, {"v": 3}])
    assert empty.get_metadata("a") == {"v": 1} and not empty.exists("missing")


def test_from_file_and_from_bytes(empty: Any, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"from a file")
    empty.set("k", (b"", {"kept": 1}))
    empty.from_file("k", source)
    assert empty.to_bytes("k") == b"from a file" and empty.get_metadata("k") == {"kept": 1}
    empty.from_bytes("b", b"from bytes")
    assert empty.to_bytes("b") == b"from bytes"
    with pytest.raises(TypeError, match="from_bytes"):
        empty.from_bytes("b", "text")


def test_nested_keys_need_no_existing_directory(empty: Any) -> None:
    empty.set("a/b/c/d", (b"deep", {"x": 1}))
    assert empty.to_bytes("a/b/c/d") == b"deep"
    assert list(empty.glob("a/*")) == ["a/b/c/d"]
    assert list(empty.query_keys(x=1)) == ["a/b/c/d"]
    assert list(empty.query_keys()) == ["a/b/c/d"]


BAD_KEYS = ["../escape", "a/../../b", "/etc/passwd", "", ".", "a//b", "a/./b", "a\\b", "nul\x00",
            "x/..", 5, None]


def test_bad_keys_are_refused_and_write_nothing(empty: Any, tmp_path: Path) -> None:
    before = sorted(tmp_path.parent.rglob("*"))
    for key in BAD_KEYS:
        with pytest.raises(InvalidKey) as raised:
            empty.set(key, (b"x", {}))
        assert repr(key) in str(raised.value) and isinstance(raised.value, ValueError)
        for call in (empty.get, empty.exists, empty.delete, lambda k: empty.set_metadata(k, {}),
                     lambda k: empty.from_bytes(k, b"x")):
            with pytest.raises(InvalidKey):
                call(key)
    assert sorted(tmp_path.parent.rglob("*")) == before  # nothing written anywhere near
    assert list(empty.query_keys()) == []


def test_bad_values_and_metadata_say_what_is_wrong(empty: Any) -> None:
    with pytest.raises(TypeError, match="'k'.*pair"):
        empty.set("k", "just a string")
    with pytest.raises(TypeError, match="metadata for key 'k' must be a dict"):
        empty.set("k", (b"x", ["not", "a", "dict"]))
    with pytest.raises(TypeError, match="metadata for key 'k'.*not JSON"):
        empty.set("k", (b"x", {"when": object()}))
    with pytest.raises(TypeError, match="data for key 'k'"):
        empty.set("k", ("text, not bytes", {}))
    assert not empty.exists("k")


def test_value_object(empty: Any) -> None:
    empty.set("k", (b"abc", {"z": 1}))
    value = empty.get("k")
    assert isinstance(value, Value) and "size=3" in repr(value)
