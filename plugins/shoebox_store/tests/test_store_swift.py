"""FileSystemStore at a ``swift://`` URL, on a real Swift all-in-one (shoebox-swift's fsspec
filesystem): encore's layout in a container, atomic replacement, queries, nested keys."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest

from shoebox_store import FileSystemStore, NotAStore, init_shared_store


def test_a_store_in_a_swift_container(swift_server: Any) -> None:
    options = {"auth_url": swift_server.auth_url, "user": swift_server.user,
               "key": swift_server.key, "retries": 0, "use_env": False,
               "skip_instance_cache": True}
    url = f"swift://store-{uuid.uuid4().hex[:12]}/team/store"
    with pytest.raises(NotAStore, match="does not exist|no magic file"):
        FileSystemStore(url, storage_options=options)
    init_shared_store(url, storage_options=options)
    store = FileSystemStore(url, storage_options=options)
    store.set("a/b/c", (io.BytesIO(b"first"), {"v": 1, "tags": ["x"]}))
    store.set("a/b/c", (io.BytesIO(b"second"), {"v": 2}))
    store.set("top", (b"t" * 300_000, {"v": 3}))
    store.update_metadata("top", {"w": 4})
    assert store.to_bytes("a/b/c") == b"second" and store.get_metadata("top") == {"v": 3, "w": 4}
    assert store.get_data_range("top", 299_990, None).read() == b"t" * 10
    assert sorted(store.query_keys()) == ["a/b/c", "top"]
    assert list(store.query_keys(v=2)) == ["a/b/c"] and list(store.glob("a/*")) == ["a/b/c"]
    store.delete("a/b/c")
    assert list(store.query_keys()) == ["top"]
    names = sorted(p.rsplit("/", 1)[-1] for p in store._io.fs.find(store._io.root))
    assert names == [".FSStore", "top.data", "top.metadata"]  # no temporary object left
