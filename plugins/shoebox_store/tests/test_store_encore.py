"""encore 0.8's own code against ours: its stores open and read unchanged, it reads what we write,
and each of its defects has a test here that fails on its behaviour (shown on encore itself)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from encore.storage.filesystem_store import FileSystemStore as EncoreStore
from encore.storage.filesystem_store import init_shared_store as encore_init

from shoebox_store import FileSystemStore, InvalidKey, init_shared_store

METADATA = {"a_str": "x", "an_int": 1, "a_float": 2.5, "a_bool": False, "a_null": None,
            "a_list": [1, "two", None], "a_dict": {"k": [True]}, "unicode": "ключ é"}


def test_a_store_made_by_encore_opens_and_reads_unchanged(tmp_path: Path) -> None:
    encore_init(str(tmp_path))
    theirs = EncoreStore(str(tmp_path))
    theirs.set("one", (io.BytesIO(b"first value"), METADATA))
    theirs.set("two", (io.BytesIO(b""), {}))
    (tmp_path / "sub").mkdir()  # encore needs the directory to exist for a key with "/"
    theirs.set("sub/three", (io.BytesIO(b"\x00" * 1000), {"n": 3}))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*")
              if p.is_file()}
    ours = FileSystemStore(str(tmp_path))
    assert ours.to_bytes("one") == b"first value" and ours.get_metadata("one") == METADATA
    assert ours.get("two").size == 0 and ours.to_bytes("sub/three") == b"\x00" * 1000
    assert sorted(ours.query_keys()) == ["one", "sub/three", "two"]
    assert list(ours.query_keys(n=3)) == ["sub/three"]
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*")
             if p.is_file()}
    assert after == before  # opening and reading wrote nothing


def test_encore_reads_what_we_write(tmp_path: Path) -> None:
    init_shared_store(str(tmp_path))
    assert (tmp_path / ".FSStore").read_bytes() == b"__version__ = 0\n"
    ours = FileSystemStore(str(tmp_path))
    ours.set("one", (io.BytesIO(b"ours"), METADATA))
    ours.set("one", (io.BytesIO(b"ours, replaced"), {**METADATA, "v": 2}))
    ours.update_metadata("one", {"v": 3})
    ours.set("top", (b"top", {"t": 1}))
    theirs = EncoreStore(str(tmp_path))
    assert theirs.get_metadata("one") == {**METADATA, "v": 3}
    with theirs.get_data("one") as data:
        assert data.read() == b"ours, replaced"
    assert sorted(theirs.query_keys()) == ["one", "top"]  # no temporary file looks like a key
    assert json.loads((tmp_path / "one.metadata").read_text("utf-8"))["unicode"] == "ключ é"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".FSStore", "one.data", "one.metadata", "top.data", "top.metadata"]


def test_a_directory_without_the_magic_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=str(tmp_path) + ".*no magic file '.FSStore'"):
        FileSystemStore(str(tmp_path))
    with pytest.raises(Exception, match="does not exist"):
        FileSystemStore(str(tmp_path / "missing"))
    assert list(tmp_path.iterdir()) == []
    init_shared_store(str(tmp_path), magic_fname=".Custom")
    FileSystemStore(str(tmp_path), magic_fname=".Custom")


# -- encore's defects: shown on encore, fixed here -----------------------------------------------


def _both(tmp_path: Path) -> tuple[Any, Any]:
    (tmp_path / "encore").mkdir()
    encore_init(str(tmp_path / "encore"))
    init_shared_store(str(tmp_path / "ours"))
    return EncoreStore(str(tmp_path / "encore")), FileSystemStore(str(tmp_path / "ours"))


def update_merges(store: Any) -> bool:
    store.set("k", (io.BytesIO(b"x"), {"a": 1}))
    store.update_metadata("k", {"b": 2})
    return bool(store.get_metadata("k") == {"a": 1, "b": 2})


def update_missing_is_key_error(store: Any) -> bool:
    try:
        store.update_metadata("missing", {"b": 2})
    except KeyError:
        return True
    except Exception:
        return False
    return False


def nested_keys_work_and_are_listed(store: Any) -> bool:
    try:
        store.set("new/dir/key", (io.BytesIO(b"x"), {"q": 1}))
    except OSError:
        return False
    return (list(store.glob("new/*")) == ["new/dir/key"]
            and list(store.query_keys(q=1)) == ["new/dir/key"])


def escaping_keys_are_refused(store: Any, tmp_path: Path) -> bool:
    try:
        store.set("../escaped", (io.BytesIO(b"x"), {}))
    except InvalidKey:
        return not list(tmp_path.glob("escaped*"))
    return False


def to_file_keeps_the_target_on_a_missing_key(store: Any, tmp_path: Path) -> bool:
    target = tmp_path / "precious.txt"
    target.write_bytes(b"do not lose me")
    try:
        store.to_file("missing", str(target))
    except KeyError:
        pass
    return target.read_bytes() == b"do not lose me"


@pytest.mark.parametrize("check", [update_merges, update_missing_is_key_error,
                                   nested_keys_work_and_are_listed])
def test_defects_of_encore_are_fixed(tmp_path: Path, check: Any) -> None:
    theirs, ours = _both(tmp_path)
    assert check(ours)
    assert not check(theirs)  # the same check fails on encore's behaviour


def test_keys_escaping_the_root_are_refused(tmp_path: Path) -> None:
    theirs, ours = _both(tmp_path)
    assert escaping_keys_are_refused(ours, tmp_path)
    theirs.set("../escaped", (io.BytesIO(b"x"), {}))  # encore wrote outside its root
    assert sorted(p.name for p in tmp_path.glob("escaped*")) == ["escaped.data",
                                                                 "escaped.metadata"]


def test_to_file_leaves_the_target_untouched(tmp_path: Path) -> None:
    theirs, ours = _both(tmp_path)
    assert to_file_keeps_the_target_on_a_missing_key(ours, tmp_path)
    assert not to_file_keeps_the_target_on_a_missing_key(theirs, tmp_path)


def test_encore_set_was_not_atomic_and_ours_is(tmp_path: Path) -> None:
    """A reader during a set: encore shows new metadata with old (or half-written) data; ours
    shows the old value until the new one is whole."""
    theirs, ours = _both(tmp_path)
    for store, atomic in ((theirs, False), (ours, True)):
        store.set("k", (io.BytesIO(b"old data"), {"v": "old"}))
        seen: list[tuple[bytes, Any]] = []

        class Spy(io.BytesIO):
            def __init__(self, data: bytes, store: Any, seen: list[tuple[bytes, Any]]) -> None:
                super().__init__(data)
                self.store, self.seen = store, seen

            def read(self, *args: Any) -> bytes:  # a reader looks while the set streams
                chunk = super().read(*args)
                if chunk:
                    value = self.store.get("k")
                    with value.data as data:
                        self.seen.append((data.read(), value.metadata["v"]))
                return chunk

        store.set("k", (Spy(b"new data, much longer", store, seen), {"v": "new"}),
                  buffer_size=4)
        consistent = all((d, m) in ((b"old data", "old"), (b"new data, much longer", "new"))
                         for d, m in seen)
        assert seen and consistent is atomic, seen
