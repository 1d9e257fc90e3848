"""Fixtures: every backend a contract test runs on, each one real (files, a moto S3 server)."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_testdata import TEST1_METADATA

from shoebox_store import ArchiveStore, FileSystemStore, init_shared_store

pytest_plugins = ["shoebox_core.testing.servers"]

BACKENDS = ["archive", "fs-local", "fs-memory", "fs-s3"]

def s3_options(moto: Any) -> dict[str, Any]:
    """s3fs options reaching the test's moto server, failing fast, uncached."""
    return {**moto.storage_options(), "skip_instance_cache": True,
            "config_kwargs": {"retries": {"max_attempts": 1}}}


_BUCKETS: dict[str, str] = {}  # the S3 server's bucket for these tests (made on first use)


def _new_store(kind: str, base: Path, request: pytest.FixtureRequest, **options: Any) -> Any:
    name = f"{kind}-{uuid.uuid4().hex[:8]}"
    if kind == "archive":
        return ArchiveStore(base / name, **options)
    if kind == "fs-local":
        root = str(base / name)
        init_shared_store(root)
        return FileSystemStore(root, **options)
    if kind == "fs-memory":
        root = f"memory://store-{name}"
        init_shared_store(root)
        return FileSystemStore(root, **options)
    if kind == "fs-s3":
        # Each store has a bucket of its own on the session's server (no reset needed).
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        server = request.getfixturevalue("moto_server")
        storage = s3_options(server)
        bucket = _BUCKETS.get(server.endpoint_url)
        if bucket is None:
            import s3fs

            bucket = _BUCKETS[server.endpoint_url] = f"store-{uuid.uuid4().hex[:12]}"
            s3fs.S3FileSystem(**storage).mkdir(bucket)
        root = f"s3://{bucket}/{name}/prefix"  # a new prefix: a new, empty store
        init_shared_store(root, storage_options=storage)
        return FileSystemStore(root, storage_options=storage, **options)
    raise ValueError(kind)


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_store(kind, **options)``: a new, empty store of that kind (closed at the end)."""
    made: list[Any] = []

    def make(kind: str, **options: Any) -> Any:
        made.append(_new_store(kind, tmp_path, request, **options))
        return made[-1]

    yield make
    for store in made:
        close = getattr(store, "close", None)
        if close is not None:
            close()


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    return str(request.param)


@pytest.fixture
def empty(make_store: Callable[..., Any], kind: str) -> Any:
    """A new, empty store of each kind."""
    return make_store(kind)


@pytest.fixture(scope="module", params=BACKENDS)
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Any]:
    """A store of each kind holding the read tests' keys (made once per module: read tests
    change nothing)."""
    store = populate(_new_store(request.param, tmp_path_factory.mktemp("filled"), request))
    yield store
    close = getattr(store, "close", None)
    if close is not None:
        close()


def populate(store: Any) -> Any:
    """The fixed keys of the read tests (as encore's own suite has them)."""
    store.set("test1", (io.BytesIO(b"test2\n"), dict(TEST1_METADATA)))
    for i in range(10):
        metadata = {"query_test1": "value", "query_test2": i}
        if i % 2 == 0:
            metadata["optional"] = True
        store.set(f"key{i}", (io.BytesIO(b"value%d" % i), metadata))
    store.set("dir/sub/deep", (io.BytesIO(b"nested"), {"where": "deep"}))
    store.set("unicodé/ключ", (io.BytesIO(b"\x00\xff"), {"текст": "значение"}))
    return store
