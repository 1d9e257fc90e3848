"""Data the store tests share (a module of its own: test modules do not import conftest)."""

from __future__ import annotations

#: Metadata with a value of every JSON type (as encore's own tests use).
TEST1_METADATA = {
    "a_str": "test3", "an_int": 1, "a_float": 2.0, "a_bool": True, "a_null": None,
    "a_list": ["one", "two", "three"], "a_dict": {"one": 1, "two": 2, "three": 3},
}
