"""The callback base class, callback names and the callback chain."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from shoebox_core.errors import CallbackError, ShoeboxError
from shoebox_core.ship.callbacks import ArchiveCallback, CallbackChain, callback_name


class Rename(ArchiveCallback):
    """Renames the file by appending ``suffix``; records what it saw."""

    def __init__(self, *, suffix: str, seen: list[str] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.suffix = suffix
        self.seen = seen if seen is not None else []

    def on_open(self, filename: str) -> None:
        self.seen.append(f"open {os.path.basename(filename)}")

    def on_close(self, filename: str) -> str:
        self.seen.append(f"close {os.path.basename(filename)}")
        os.rename(filename, filename + self.suffix)
        return filename + self.suffix


class Boom(ArchiveCallback):
    name = "boom"

    def on_open(self, filename: str) -> None:
        raise RuntimeError(f"open exploded on {filename}")

    def on_close(self, filename: str) -> str:
        raise RuntimeError(f"close exploded on {filename}")


class Recorder:
    """A duck-typed callback with on_close only."""

    def __init__(self) -> None:
        self.closed: list[str] = []

    def on_close(self, filename: str) -> None:
        self.closed.append(filename)


class OpenOnly:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def on_open(self, filename: str) -> None:
        self.opened.append(filename)


@pytest.fixture
def archive(tmp_path: Path) -> str:
    path = tmp_path / "a.events"
    path.write_bytes(b"records")
    return str(path)


def test_base_callback_does_nothing_and_ignores_options(archive: str) -> None:
    cb = ArchiveCallback(anything="goes")
    cb.on_open(archive)
    assert cb.on_close(archive) is None
    assert os.path.exists(archive)


def test_callback_name_prefers_name_attribute() -> None:
    assert callback_name(Boom()) == "boom"
    assert callback_name(Recorder()) == "Recorder"
    assert callback_name(ArchiveCallback()) == "ArchiveCallback"


def test_chain_accepts_none_one_or_many(archive: str) -> None:
    assert len(CallbackChain()) == 0
    assert CallbackChain(None).on_close(archive) == archive
    one = Recorder()
    assert list(CallbackChain(one)) == [one]
    assert CallbackChain([one, Recorder()]).names == ("Recorder", "Recorder")


@pytest.mark.parametrize("bad", ["gzip", 42, [Recorder(), "delete"], Recorder])
def test_chain_refuses_what_is_not_a_callback(bad: object) -> None:
    with pytest.raises(TypeError):
        CallbackChain(bad)


def test_chain_threads_names_in_order(archive: str) -> None:
    seen: list[str] = []
    recorder = Recorder()
    chain = CallbackChain(
        [Rename(suffix=".one", seen=seen), recorder, Rename(suffix=".two", seen=seen)]
    )
    result = chain.on_close(archive)
    assert result == archive + ".one.two"
    assert os.path.exists(result) and not os.path.exists(archive)
    assert recorder.closed == [archive + ".one"]
    assert seen == ["close a.events", "close a.events.one"]


def test_chain_is_itself_a_callback(archive: str) -> None:
    inner = CallbackChain([Rename(suffix=".in")])
    outer = CallbackChain([inner, Rename(suffix=".out")])
    assert outer.on_close(archive) == archive + ".in.out"


def test_on_open_calls_every_callback(archive: str) -> None:
    seen: list[str] = []
    open_only = OpenOnly()
    CallbackChain([Rename(suffix=".x", seen=seen), Recorder(), open_only]).on_open(archive)
    assert seen == ["open a.events"]
    assert open_only.opened == [archive]


def test_on_open_failures_do_not_stop_the_others_and_are_raised_together(
    archive: str, caplog: pytest.LogCaptureFixture
) -> None:
    before, after = OpenOnly(), OpenOnly()
    chain = CallbackChain([before, Boom(), after, Boom()])
    with caplog.at_level(logging.ERROR, logger="shoebox"):
        with pytest.raises(CallbackError) as info:
            chain.on_open(archive)
    assert before.opened == [archive] and after.opened == [archive]
    error = info.value
    assert error.callback == "boom, boom"
    assert error.path == archive
    assert error.skipped == ()
    assert isinstance(error.__cause__, RuntimeError)
    assert str(error).count("open exploded") == 2
    records = [r for r in caplog.records if r.name == "shoebox"]
    assert len(records) == 2
    assert all(r.levelno == logging.ERROR and archive in r.getMessage() for r in records)
    assert all("boom" in r.getMessage() for r in records)


def test_on_close_failure_stops_the_chain_and_keeps_the_file(
    archive: str, caplog: pytest.LogCaptureFixture
) -> None:
    later = Recorder()
    chain = CallbackChain([Rename(suffix=".gz"), Boom(), later, OpenOnly(), Recorder()])
    with caplog.at_level(logging.ERROR, logger="shoebox"):
        with pytest.raises(CallbackError) as info:
            chain.on_close(archive)
    error = info.value
    moved = archive + ".gz"
    assert isinstance(error, ShoeboxError)
    assert error.callback == "boom"
    assert error.path == moved
    # OpenOnly has no on_close: it would not have run anyway.
    assert error.skipped == ("Recorder", "Recorder")
    assert isinstance(error.__cause__, RuntimeError)
    assert "close exploded" in str(error)
    assert later.closed == []
    assert os.path.exists(moved)
    [record] = [r for r in caplog.records if r.name == "shoebox"]
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert "boom" in message and moved in message and "Recorder" in message
    assert record.exc_info is not None


def test_last_step_failing_skips_nothing(archive: str) -> None:
    with pytest.raises(CallbackError) as info:
        CallbackChain([Recorder(), Boom()]).on_close(archive)
    assert info.value.skipped == ()
    assert str(info.value).endswith("the file is kept")  # nothing left out: nothing to say


class Liar(ArchiveCallback):
    def on_close(self, filename: str) -> str:
        return filename + ".nowhere"


class Weird(ArchiveCallback):
    def on_close(self, filename: str) -> object:  # type: ignore[override]
        return 42


@pytest.mark.parametrize("bad, words", [(Liar(), "does not exist"), (Weird(), "not a file name")])
def test_on_close_returning_a_bad_name_is_an_error(
    archive: str, bad: ArchiveCallback, words: str
) -> None:
    later = Recorder()
    with pytest.raises(CallbackError) as info:
        CallbackChain([bad, later]).on_close(archive)
    assert info.value.callback == type(bad).__qualname__
    assert info.value.path == archive
    assert info.value.skipped == ("Recorder",)
    assert words in str(info.value)
    assert later.closed == []
    assert os.path.exists(archive)


def test_on_close_accepts_a_path_object(tmp_path: Path) -> None:
    path = tmp_path / "p.events"
    path.write_bytes(b"x")

    class ReturnsPath(ArchiveCallback):
        def on_close(self, filename: str) -> object:  # type: ignore[override]
            return Path(filename)

    assert CallbackChain([ReturnsPath()]).on_close(path) == str(path)  # type: ignore[arg-type]
