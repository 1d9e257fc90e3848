"""The move, change-extension and delete callbacks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from shoebox_core.errors import ArchiveError, ConfigError
from shoebox_core.format.compressed import open_decompressed
from shoebox_core.ship import file_callbacks
from shoebox_core.ship.callbacks import CallbackChain
from shoebox_core.ship.compress import GzipCallback
from shoebox_core.ship.file_callbacks import ChangeExtensionCallback, DeleteCallback, MoveCallback
from shoebox_core.testing.callbacks import CallbackContract


def make(path: Path, data: bytes = b"records") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


# --- move ------------------------------------------------------------------------------------


def test_move_into_another_directory(tmp_path: Path) -> None:
    source = make(tmp_path / "in" / "a.events")
    result = MoveCallback(directory=str(tmp_path / "out")).on_close(source)
    assert result == str(tmp_path / "out" / "a.events")
    assert Path(result).read_bytes() == b"records"
    assert not os.path.exists(source)


def test_move_never_overwrites(tmp_path: Path) -> None:
    taken = make(tmp_path / "out" / "a.events", b"precious")
    source = make(tmp_path / "in" / "a.events", b"new")
    result = MoveCallback(directory=tmp_path / "out").on_close(source)
    assert result == str(tmp_path / "out" / "a~001.events")
    assert Path(taken).read_bytes() == b"precious"
    assert Path(result).read_bytes() == b"new"


def test_move_without_create_needs_the_directory(tmp_path: Path) -> None:
    source = make(tmp_path / "a.events")
    with pytest.raises(ArchiveError, match="no such directory"):
        MoveCallback(directory=tmp_path / "missing", create="false").on_close(source)
    assert os.path.exists(source)
    assert not (tmp_path / "missing").exists()


def test_move_into_its_own_directory_is_a_no_op(tmp_path: Path) -> None:
    source = make(tmp_path / "a.events")
    assert MoveCallback(directory=tmp_path).on_close(source) is None
    assert os.listdir(tmp_path) == ["a.events"]


def test_move_option_errors() -> None:
    with pytest.raises(ConfigError):
        MoveCallback(directory="")
    with pytest.raises(ConfigError):
        MoveCallback(directory="/x", create="perhaps")
    with pytest.raises(TypeError):
        MoveCallback()  # type: ignore[call-arg]


def test_cross_device_copy_path(tmp_path: Path) -> None:
    # Exercise the copy-verify-rename path directly; same file system or not, it must hold.
    data = os.urandom(3 * 1024 * 1024 + 7)
    source = make(tmp_path / "in" / "a.events", data)
    os.chmod(source, 0o640)
    mtime = os.stat(source).st_mtime_ns
    make(tmp_path / "out" / "a.events", b"precious")
    result = file_callbacks._move_across_devices(source, str(tmp_path / "out" / "a.events"))
    assert result == str(tmp_path / "out" / "a~001.events")
    assert Path(result).read_bytes() == data
    assert os.stat(result).st_mtime_ns == mtime
    assert os.stat(result).st_mode & 0o777 == 0o640
    assert not os.path.exists(source)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.events", "a~001.events"]


def test_cross_device_copy_failing_its_check_keeps_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make(tmp_path / "in" / "a.events", b"x" * 1000)
    (tmp_path / "out").mkdir()
    real = file_callbacks._check_copy

    def damaged(source: str, partial: str, size: int, copied: object) -> None:
        os.truncate(partial, 10)
        real(source, partial, size, copied)  # type: ignore[arg-type]

    monkeypatch.setattr(file_callbacks, "_check_copy", damaged)
    with pytest.raises(ArchiveError, match="failed its check"):
        file_callbacks._move_across_devices(source, str(tmp_path / "out" / "a.events"))
    assert Path(source).read_bytes() == b"x" * 1000
    assert os.listdir(tmp_path / "out") == []


def _other_device_dir(tmp_path: Path) -> str | None:
    for candidate in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            if os.stat(candidate).st_dev != os.stat(tmp_path).st_dev:
                return candidate
    return None


def test_move_across_file_systems(tmp_path: Path) -> None:
    other = _other_device_dir(tmp_path)
    if other is None:
        pytest.skip("no writable directory on another file system")
    with tempfile.TemporaryDirectory(dir=other) as target:
        source = make(tmp_path / "a.events", b"across")
        result = MoveCallback(directory=target).on_close(source)
        assert result == os.path.join(target, "a.events")
        assert Path(result).read_bytes() == b"across"
        assert not os.path.exists(source)
        assert os.listdir(target) == ["a.events"]


# --- change extension ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, extension, expected",
    [
        ("a.events", ".done", "a.done"),
        ("a.events", "done", "a.done"),
        ("a.events.gz", ".done", "a.done.gz"),
        ("a.events.zst", "done", "a.done.zst"),
        ("a.b.events", ".done", "a.b.done"),
        ("a~001.events", ".done", "a~001.done"),
        ("plain", ".done", "plain.done"),
        ("a.events", ".done.v2", "a.done.v2"),
    ],
)
def test_change_extension(tmp_path: Path, name: str, extension: str, expected: str) -> None:
    source = make(tmp_path / name)
    result = ChangeExtensionCallback(new_extension=extension).on_close(source)
    assert result == str(tmp_path / expected)
    assert os.listdir(tmp_path) == [expected]


def test_change_extension_to_the_same_is_a_no_op(tmp_path: Path) -> None:
    source = make(tmp_path / "a.done")
    assert ChangeExtensionCallback(new_extension="done").on_close(source) is None
    assert os.listdir(tmp_path) == ["a.done"]


def test_change_extension_never_overwrites(tmp_path: Path) -> None:
    taken = make(tmp_path / "a.done.gz", b"precious")
    source = make(tmp_path / "a.events.gz", b"new")
    result = ChangeExtensionCallback(new_extension=".done").on_close(source)
    assert result == str(tmp_path / "a~001.done.gz")
    assert Path(taken).read_bytes() == b"precious"


@pytest.mark.parametrize("bad", ["", ".", "../x", "a/b", "a\\b", ".x..y", "..", 5])
def test_change_extension_refuses_bad_extensions(bad: object) -> None:
    with pytest.raises(ConfigError, match="new_extension"):
        ChangeExtensionCallback(new_extension=bad)  # type: ignore[arg-type]


# --- delete ----------------------------------------------------------------------------------


def test_delete(tmp_path: Path) -> None:
    source = make(tmp_path / "a.events")
    DeleteCallback().on_close(source)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        DeleteCallback().on_close(source)


def test_a_whole_chain(tmp_path: Path) -> None:
    source = make(tmp_path / "spool" / "a.events", b"z" * 100_000)
    chain = CallbackChain(
        [
            GzipCallback(),
            ChangeExtensionCallback(new_extension="done"),
            MoveCallback(directory=tmp_path / "archive"),
        ]
    )
    result = chain.on_close(source)
    assert result == str(tmp_path / "archive" / "a.done.gz")
    assert os.listdir(tmp_path / "spool") == []
    with open_decompressed(result) as reader:
        assert reader.read() == b"z" * 100_000


# --- the contract, applied to each built-in --------------------------------------------------


class TestMoveContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> MoveCallback:
        return MoveCallback(directory=str(tmp_path / "moved"))


class TestChangeExtensionContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> ChangeExtensionCallback:
        return ChangeExtensionCallback(new_extension=".done")


class TestDeleteContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> DeleteCallback:
        return DeleteCallback()
