"""Benchmark: shoebox's two stores against encore 0.8's FileSystemStore and sqlite3.

Same run, same data, one process per contestant and phase:

* ``sets``: N sets of 1 KB values, each with three metadata items (one transaction per set for
  sqlite3: a table of key, metadata JSON, blob; WAL; ``synchronous=NORMAL``, i.e. no fsync per
  commit, as none of the stores fsyncs per set);
* ``gets``: N random gets (data and metadata);
* ``query``: one metadata query matching 1% of the keys;
* ``large``: L values of M MB set from a stream and read back, in a fresh process whose peak RSS
  is reported (flat in the value size for the stores that stream).

Run: ``python plugins/shoebox_store/bench/store.py`` (``--quick`` for a small smoke run).
encore comes from ``pip install 'shoebox-store[bench]'``; without it its column is skipped.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from typing import Any

VALUE = os.urandom(1024)


def _sqlite(path: str) -> Any:
    conn = sqlite3.connect(os.path.join(path, "kv.sqlite"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, metadata TEXT, data BLOB)")
    return conn


class SqliteStore:
    """The reference: what the same job costs in sqlite3."""

    def __init__(self, path: str) -> None:
        self.conn = _sqlite(path)

    def set(self, key: str, value: Any) -> None:
        data, metadata = value
        blob = data.read()
        self.conn.execute("BEGIN")
        self.conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)",
                          (key, json.dumps(metadata), blob))
        self.conn.execute("COMMIT")

    def get(self, key: str) -> tuple[bytes, dict[str, Any]]:
        row = self.conn.execute("SELECT data, metadata FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return row[0], json.loads(row[1])

    def query(self, **kw: Any) -> list[tuple[str, dict[str, Any]]]:
        where = " AND ".join(f"json_extract(metadata, '$.{k}') = ?" for k in kw)
        rows = self.conn.execute(f"SELECT key, metadata FROM kv WHERE {where}",  # noqa: S608
                                 tuple(kw.values()))
        return [(k, json.loads(m)) for k, m in rows]

    def close(self) -> None:
        self.conn.close()


def make(name: str, path: str) -> Any:
    """A store of contestant ``name`` in the (new) directory ``path``."""
    if name == "ArchiveStore":
        from shoebox_store import ArchiveStore

        return ArchiveStore(os.path.join(path, "s"))
    if name == "FileSystemStore":
        from shoebox_store import FileSystemStore, init_shared_store

        init_shared_store(path)
        return FileSystemStore(path)
    if name == "encore FileSystemStore":
        from encore.storage.filesystem_store import FileSystemStore, init_shared_store

        init_shared_store(path)
        return FileSystemStore(path)
    return SqliteStore(path)


def _get(store: Any, key: str) -> tuple[bytes, dict[str, Any]]:
    if isinstance(store, SqliteStore):
        return store.get(key)
    value = store.get(key)
    with value.data as data:
        return data.read(), value.metadata


def small(name: str, n: int, out: Any) -> None:
    """Sets, gets and a query over ``n`` keys of 1 KB; results sent through ``out``."""
    path = tempfile.mkdtemp(prefix="store-bench-")
    try:
        store = make(name, path)
        keys = [f"item-{i:07d}" for i in range(n)]  # flat: encore needs existing directories
        metas = [{"group": f"g{i % 100}", "index": i, "ok": True} for i in range(n)]
        start = time.perf_counter()
        for key, meta in zip(keys, metas):
            store.set(key, (io.BytesIO(VALUE), meta))
        if hasattr(store, "flush"):
            store.flush()
        sets = n / (time.perf_counter() - start)
        order = random.Random(1).sample(keys, len(keys))
        start = time.perf_counter()
        for key in order:
            _get(store, key)
        gets = n / (time.perf_counter() - start)
        start = time.perf_counter()
        found = list(store.query(group="g7"))
        query = time.perf_counter() - start
        assert len(found) == len(range(7, n, 100)), (name, len(found))
        if hasattr(store, "close"):
            store.close()
        out.send({"sets": sets, "gets": gets, "query_ms": query * 1000})
    finally:
        shutil.rmtree(path, ignore_errors=True)


class _Source(io.RawIOBase):
    """``size`` bytes made on demand (never held whole)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size
        self.block = os.urandom(1 << 20)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        if n <= len(self.block):
            return self.block[:n]
        return (self.block * (n // len(self.block) + 1))[:n]


def large(name: str, count: int, mb: int, out: Any) -> None:
    """``count`` values of ``mb`` MB set from a stream and read back; peak RSS."""
    path = tempfile.mkdtemp(prefix="store-bench-")
    try:
        store = make(name, path)
        size = mb * 1024 * 1024
        start = time.perf_counter()
        for i in range(count):
            store.set(f"large-{i}", (_Source(size), {"i": i}))
        wrote = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(count):
            if isinstance(store, SqliteStore):
                assert len(store.get(f"large-{i}")[0]) == size
                continue
            value = store.get(f"large-{i}")
            got = sum(len(chunk) for chunk in value.iterdata(1 << 20))
            assert got == size
        read = time.perf_counter() - start
        if hasattr(store, "close"):
            store.close()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.send({"large_set": count * mb / wrote, "large_get": count * mb / read, "rss": rss})
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _in_child(target: Any, *args: Any) -> dict[str, float]:
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(target=target, args=(*args, send))
    child.start()
    send.close()
    try:
        result = receive.recv()
    except EOFError:
        raise SystemExit(f"{target.__name__} {args[0]}: the benchmark process failed") from None
    child.join()
    return result  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=20, help="number of large values")
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2,000 keys, 2 x 5 MB")
    args = parser.parse_args(argv)
    if args.quick:
        args.keys, args.large, args.large_mb = 2000, 2, 5
    names = ["ArchiveStore", "FileSystemStore", "encore FileSystemStore", "sqlite3"]
    try:
        import encore.storage.filesystem_store  # noqa: F401
    except ImportError:
        print("encore is not installed (pip install 'shoebox-store[bench]'): skipped",
              file=sys.stderr)
        names.remove("encore FileSystemStore")
    results = {}
    for name in names:
        results[name] = {**_in_child(small, name, args.keys),
                         **_in_child(large, name, args.large, args.large_mb)}
    print(f"{args.keys:,} sets/gets of 1 KB values; {args.large} x {args.large_mb} MB values")
    print(f"{'store':<24}{'sets/s':>10}{'gets/s':>10}{'query ms':>10}{'large set MB/s':>16}"
          f"{'large get MB/s':>16}{'peak RSS MB':>13}")
    for name, r in results.items():
        print(f"{name:<24}{r['sets']:>10,.0f}{r['gets']:>10,.0f}{r['query_ms']:>10.1f}"
              f"{r['large_set']:>16,.0f}{r['large_get']:>16,.0f}{r['rss']:>13,.0f}")
    ours, sql = results["ArchiveStore"], results["sqlite3"]
    print(f"ArchiveStore sets: {ours['sets'] / sql['sets']:.2f}x sqlite3 (target >= 1)", end="")
    if "encore FileSystemStore" in results:
        enc = results["encore FileSystemStore"]
        print(f", {ours['sets'] / enc['sets']:.1f}x encore (target >= 10); FileSystemStore "
              f"sets {results['FileSystemStore']['sets'] / enc['sets']:.2f}x encore, gets "
              f"{results['FileSystemStore']['gets'] / enc['gets']:.2f}x (target >= 1)", end="")
    print(f"\nArchiveStore gets: {ours['gets'] / sql['gets']:.2f}x sqlite3, query "
          f"{sql['query_ms'] / ours['query_ms']:.2f}x sqlite3 (targets >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
