"""Metadata from JSON objects: field paths and the small expression language (no eval)."""

from __future__ import annotations

import pytest

from shoebox_core.config.selectors import MetadataSelector, MissingField
from shoebox_core.errors import ConfigError

EVENT = {
    "event_type": "compute.instance.create.end",
    "publisher_id": "compute.host-7",
    "timestamp": "2023-11-14 22:13:20.123",
    "priority": 3,
    "ok": True,
    "nothing": None,
    "empty": "",
    "payload": {"instance_id": "i-1", "tags": ["a", "b"], "odd key": "x", "size": 2.5},
}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("event_type", {"event_type": "compute.instance.create.end"}),
        ("uuid=payload.instance_id", {"uuid": "i-1"}),
        ("payload.tags.1", {"payload.tags.1": "b"}),
        ("t=payload.tags[0]", {"t": "a"}),
        ('k=payload["odd key"]', {"k": "x"}),
        ("priority", {"priority": "3"}),
        ("ok", {"ok": "true"}),
        ("nothing", {"nothing": ""}),
        ("s=payload.size", {"s": "2.5"}),
        ("tags=payload.tags", {"tags": '["a","b"]'}),
        ("p=payload.tags.9", {"p": ""}),
    ],
)
def test_fields(field: str, expected: dict[str, str]) -> None:
    assert MetadataSelector([field])(EVENT) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("publisher_id or 'unknown'", "compute.host-7"),
        ("missing or empty or nothing or \"fallback\"", "fallback"),
        ("publisher_id + '/' + event_type", "compute.host-7/compute.instance.create.end"),
        ("timestamp[:10]", "2023-11-14"),
        ("timestamp[-3:]", "123"),
        ("upper(payload.instance_id)", "I-1"),
        ("lower('ABC')", "abc"),
        ("strip('  x ')", "x"),
        ("replace(event_type, '.', '_')", "compute_instance_create_end"),
        ("split(event_type, '.')[0]", "compute"),
        ("split(publisher_id, '.')[1] or 'none'", "host-7"),
        ("json(payload.tags)", '["a","b"]'),
        ("(missing or 'a') + 'b'", "ab"),
        ("'it\\'s'", "it's"),
        ("missing + 'x'", ""),
        ("priority[0]", ""),
    ],
)
def test_expressions(expression: str, expected: str) -> None:
    assert MetadataSelector([], {"m": expression})(EVENT) == {"m": expected}


def test_missing_policies() -> None:
    assert MetadataSelector(["a", "event_type"], missing="omit")(EVENT) == {
        "event_type": "compute.instance.create.end"
    }
    with pytest.raises(MissingField) as caught:
        MetadataSelector(["x=payload.nope"], missing="error")(EVENT)
    assert str(caught.value) == "metadata 'x': payload.nope is missing from the record"
    assert MetadataSelector(["a"])([1, 2]) == {"a": ""}  # not an object at all


@pytest.mark.parametrize(
    ("fields", "expressions", "message"),
    [
        (["a+b"], {}, "field 'a+b': 'a+b' is not a field path"),
        (["lower(a)"], {}, "is not a field path"),
        (["=a"], {}, "field '=a' has an empty name"),
        ([], {"m": ""}, "metadata 'm': an empty expression"),
        ([], {"m": "a +"}, "metadata 'm': expected a field name, a quoted string, a number or "
         "'(' at the end of 'a +'"),
        ([], {"m": "__import__('os')"}, "unknown function __import__()"),
        ([], {"m": "lower(a, b)"}, "lower() takes 1 argument(s), 2 given"),
        ([], {"m": "a ; b"}, "unexpected ';' at position 3"),
        ([], {"m": "a b"}, "expected 'or', '+' or the end, found 'b'"),
        (["a", "b=a"], {"a": "b"}, "metadata key 'a' is chosen twice"),
    ],
)
def test_bad_selections(fields, expressions, message) -> None:
    with pytest.raises(ConfigError) as caught:
        MetadataSelector(fields, expressions)
    assert message in str(caught.value)


def test_an_empty_selector_is_false_and_keys_keep_their_order() -> None:
    assert not MetadataSelector()
    selector = MetadataSelector(["b", "a"], {"c": "'x'"})
    assert selector and selector.keys == ["b", "a", "c"]
