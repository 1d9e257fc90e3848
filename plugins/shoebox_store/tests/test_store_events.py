"""Events, as encore delivered them: set/update/delete, transactions, progress on long transfers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from shoebox_store import (
    StoreDeleteEvent,
    StoreEvent,
    StoreModificationEvent,
    StoreProgressEndEvent,
    StoreProgressEvent,
    StoreProgressStartEvent,
    StoreProgressStepEvent,
    StoreSetEvent,
    StoreTransactionEndEvent,
    StoreTransactionStartEvent,
    StoreUpdateEvent,
)

LOCAL = ["archive", "fs-local"]


@pytest.fixture(params=LOCAL)
def store(request: pytest.FixtureRequest, make_store: Any) -> Any:
    return make_store(request.param)


def record(store: Any, cls: type = StoreEvent, **options: Any) -> list[Any]:
    seen: list[Any] = []
    store.event_manager.connect(cls, seen.append, **options)
    return seen


def test_set_update_delete_events(store: Any) -> None:
    seen = record(store, StoreModificationEvent)
    store.set("k", (io.BytesIO(b"1"), {"a": 1}))
    store.set("k", (io.BytesIO(b"2"), {"a": 2}))
    store.update_metadata("k", {"b": 3})
    store.set_metadata("k", {"c": 4})
    store.delete("k")
    assert [(type(e), e.key, e.metadata, e.action) for e in seen] == [
        (StoreSetEvent, "k", {"a": 1}, "set"),
        (StoreUpdateEvent, "k", {"a": 2}, "update"),
        (StoreUpdateEvent, "k", {"a": 2, "b": 3}, "update"),
        (StoreUpdateEvent, "k", {"c": 4}, "update"),
        (StoreDeleteEvent, "k", {"c": 4}, "delete"),
    ]
    assert all(e.source is store for e in seen)


def test_filters_and_disconnect(store: Any) -> None:
    by_dict = record(store, StoreSetEvent, filter={"key": "wanted"})
    by_call = record(store, StoreModificationEvent, filter=lambda e: e.key.startswith("w"))
    store.set("other", (b"x", {}))
    store.set("wanted", (b"x", {}))
    assert [e.key for e in by_dict] == ["wanted"] and [e.key for e in by_call] == ["wanted"]
    store.event_manager.disconnect(by_dict.append)
    store.delete("wanted")
    assert len(by_dict) == 1 and [e.action for e in by_call] == ["set", "delete"]
    with pytest.raises(TypeError, match="not a StoreEvent class"):
        store.event_manager.connect(int, print)
    with pytest.raises(TypeError, match="filter"):
        store.event_manager.connect(StoreEvent, print, filter="key")


def test_transaction_events_deliver_changes_at_the_end(store: Any) -> None:
    seen = record(store)
    with store.transaction("two keys"):
        store.set("a", (b"1", {}))
        assert [type(e) for e in seen] == [StoreTransactionStartEvent]
        store.set("b", (b"2", {}))
    assert [type(e) for e in seen] == [StoreTransactionStartEvent, StoreTransactionEndEvent,
                                       StoreSetEvent, StoreSetEvent]
    assert seen[0].notes == "two keys" and seen[1].committed is True
    seen.clear()
    with pytest.raises(ValueError), store.transaction("fails"):
        store.set("c", (b"3", {}))
        raise ValueError
    assert [type(e) for e in seen] == [StoreTransactionStartEvent, StoreTransactionEndEvent]
    assert seen[1].committed is False
    seen.clear()
    store.multiset(["x", "y"], [(b"1", {}), (b"2", {})])
    assert [type(e) for e in seen] == [StoreTransactionStartEvent, StoreTransactionEndEvent,
                                       StoreSetEvent, StoreSetEvent]


def test_progress_events_on_long_transfers_only(store: Any, tmp_path: Path) -> None:
    seen = record(store, StoreProgressEvent)
    store.set("small", (io.BytesIO(b"x" * 100), {}))
    assert seen == []
    data = b"y" * 1000
    store.set("long", (io.BytesIO(data), {"m": 1}), buffer_size=300)
    assert [type(e) for e in seen] == [StoreProgressStartEvent, *[StoreProgressStepEvent] * 4,
                                       StoreProgressEndEvent]
    assert [e.step for e in seen[1:-1]] == [300, 600, 900, 1000]
    assert seen[-1].exit_state == "normal" and {e.key for e in seen} == {"long"}
    assert len({e.operation_id for e in seen}) == 1
    seen.clear()
    store.to_file("long", tmp_path / "out", buffer_size=400)
    assert seen[0].steps == 1000 and [e.step for e in seen[1:-1]] == [400, 800, 1000]


def test_a_failed_transfer_ends_its_progress_with_exception(store: Any) -> None:
    seen = record(store, StoreProgressEvent)

    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() >= 200:
                raise OSError("disk gone")
            return super().read(n)

    with pytest.raises(OSError, match="disk gone"):
        store.set("k", (Broken(b"z" * 1000), {}), buffer_size=100)
    assert seen[-1].exit_state == "exception"
    assert not store.exists("k")  # all or nothing
