"""A reusable test suite for on-close callbacks, and a callback that records what it sees.

Subclass :class:`CallbackContract` in a test module (the subclass's name must start with ``Test``
so pytest collects it) and say how to build the callback::

    from shoebox_core.testing.callbacks import CallbackContract

    class TestUploadCallback(CallbackContract):
        def make_callback(self, tmp_path):
            return UploadCallback(url=f"file://{tmp_path}/bucket")

Every test receives pytest's ``tmp_path``; ``make_callback`` and ``make_input_file`` should keep all
their files under it. Override ``make_input_file`` when the callback needs a particular kind of file
(a real archive, say). A test that cannot hold for your callback can be overridden with a skip.

:class:`RecordingCallback` remembers every ``on_open`` / ``on_close`` in order; the ``recorder`` and
``recorder_cls`` fixtures hand out fresh ones.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random
from pathlib import Path
from typing import Any

import pytest

from ..ship.callbacks import ArchiveCallback, callback_name

__all__ = ["CallbackContract", "RecordingCallback"]


class RecordingCallback(ArchiveCallback):
    """Remembers every on_open / on_close it sees, in order (as stacktach-shoebox's tests did).

    ``events`` holds ``("open" | "close", filename)`` pairs; ``opened`` and ``closed`` the file
    names of each kind; ``active`` maps each file seen to whether it is open now.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple[str, str]] = []
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.active: dict[str, bool] = {}

    def on_open(self, filename: str) -> None:
        """Note that ``filename`` was opened."""
        self.events.append(("open", filename))
        self.opened.append(filename)
        self.active[filename] = True

    def on_close(self, filename: str) -> None:
        """Note that ``filename`` was sealed."""
        self.events.append(("close", filename))
        self.closed.append(filename)
        self.active[filename] = False


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root``, by relative path, with a digest of its content."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            result[str(path.relative_to(root))] = hashlib.blake2b(path.read_bytes()).hexdigest()
    return result


class CallbackContract:
    """Generic tests every on-open / on-close callback must pass."""

    input_size = 64 * 1024

    def make_callback(self, tmp_path: Path) -> Any:
        """Return a new callback to test; keep its files (target directories...) in ``tmp_path``."""
        raise NotImplementedError("a CallbackContract subclass must define make_callback")

    def make_input_file(self, tmp_path: Path, content: bytes) -> Path:
        """Write ``content`` to a sealed archive and return its path.

        Called twice with different content, it must return the same path both times: that is how
        the contract checks that the callback never overwrites the result of an earlier call.
        """
        directory = tmp_path / "archives"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "archive-0001.events"
        path.write_bytes(content)
        return path

    def content(self, seed: int) -> bytes:
        """Reproducible test bytes, different for each ``seed``: part random, part compressible."""
        rng = random.Random(seed)
        half = self.input_size // 2
        text = (f"record {seed} " * half).encode()[:half]
        return rng.randbytes(self.input_size - half) + text

    def test_construction_takes_keyword_arguments_only(self, tmp_path: Path) -> None:
        callback = self.make_callback(tmp_path)
        cls = type(callback)
        for parameter in inspect.signature(cls).parameters.values():
            assert parameter.kind in (parameter.KEYWORD_ONLY, parameter.VAR_KEYWORD), (
                f"{cls.__qualname__}: parameter {parameter.name!r} can be given by position; "
                "callbacks are built from keyword arguments (put it after a '*')"
            )
        with pytest.raises(TypeError):
            cls(object())

    def test_has_a_name(self, tmp_path: Path) -> None:
        name = callback_name(self.make_callback(tmp_path))
        assert isinstance(name, str) and name

    def test_on_open_of_a_fresh_callback_does_not_raise(self, tmp_path: Path) -> None:
        callback = self.make_callback(tmp_path)
        path = self.make_input_file(tmp_path, b"")
        on_open = getattr(callback, "on_open", None)
        if on_open is not None:
            on_open(str(path))

    def _close(self, callback: Any, path: Path) -> str | None:
        on_close = getattr(callback, "on_close", None)
        if on_close is None:
            pytest.skip("the callback has no on_close")
        result = on_close(str(path))
        if result is not None:
            result = os.fspath(result)
            assert isinstance(result, str), f"on_close returned {result!r}, not a str or None"
        return result

    def test_on_close_returns_none_or_an_existing_path(self, tmp_path: Path) -> None:
        callback = self.make_callback(tmp_path)
        path = self.make_input_file(tmp_path, self.content(1))
        result = self._close(callback, path)
        assert result is None or os.path.exists(result), (
            f"on_close returned {result!r}, which does not exist"
        )

    def test_on_close_never_overwrites_an_existing_file(self, tmp_path: Path) -> None:
        callback = self.make_callback(tmp_path)
        first_input = self.make_input_file(tmp_path, self.content(1))
        first = self._close(callback, first_input)
        renames = first is not None and first != str(first_input)
        before = _snapshot(tmp_path)
        second_input = self.make_input_file(tmp_path, self.content(2))
        assert second_input == first_input, "make_input_file must return the same path each time"
        second = self._close(callback, second_input)
        after = _snapshot(tmp_path)
        input_key = str(second_input.relative_to(tmp_path))
        for name, digest in before.items():
            if name == input_key:
                continue
            assert name in after, f"{name} existed before the second on_close and is gone"
            assert after[name] == digest, f"{name} was overwritten by the second on_close"
        if renames:
            assert second != first, f"both calls returned {first!r}"

    def test_on_close_leaves_no_stray_files(self, tmp_path: Path) -> None:
        callback = self.make_callback(tmp_path)
        path = self.make_input_file(tmp_path, self.content(1))
        before = set(_snapshot(tmp_path))
        result = self._close(callback, path)
        new = set(_snapshot(tmp_path)) - before
        allowed = set()
        if result is not None and os.path.abspath(result).startswith(str(tmp_path)):
            allowed.add(os.path.relpath(os.path.abspath(result), tmp_path))
        assert new <= allowed, f"on_close left files besides its result: {sorted(new - allowed)}"

    def test_on_close_of_a_missing_file_creates_nothing(self, tmp_path: Path) -> None:
        callback = self.make_callback(tmp_path)
        path = self.make_input_file(tmp_path, b"")
        path.unlink()
        before = _snapshot(tmp_path)
        try:
            result = self._close(callback, path)
        except Exception:
            result = None
        assert result is None or os.path.exists(result)
        assert _snapshot(tmp_path) == before, "on_close of a missing file created or changed files"
