"""The per-archive journal and the journaled chain: durable progress, exact resumption."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoebox_core.errors import CallbackError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.chain import ShippingChain, StepMismatch, pending_archives
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.ship.journal import (
    Journal,
    JournalError,
    current_step,
    find_journals,
    journal_path,
    load_journal,
    owner_alive,
    owner_token,
    save_journal,
)
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager


def _archive(directory: Path, name: str = "a.events", records: int = 3) -> str:
    """A real sealed archive of ``records`` records."""
    with WritingRollManager(name, None, str(directory)) as writer:
        for i in range(records):
            writer.write({"i": str(i)}, f"payload {i}")
    return writer.sealed[0]


class Step:
    """An on-close step that counts its calls and fails while ``failures`` is positive."""

    def __init__(self, name: str, failures: int = 0, rename: str | None = None) -> None:
        self.name = name
        self.failures = failures
        self.rename = rename
        self.calls: list[str] = []

    def on_close(self, filename: str) -> str | None:
        self.calls.append(filename)
        if self.failures > 0:
            self.failures -= 1
            raise OSError(f"{self.name} failed")
        if self.rename:
            target = filename + self.rename
            os.rename(filename, target)
            return target
        return None


# -- the file ----------------------------------------------------------------------------------


def test_a_journal_round_trips_with_paths_relative_to_its_folder(tmp_path: Path) -> None:
    archive = str(tmp_path / "x.events")
    journal = Journal.new(archive, state="sealed", now=100.0)
    journal.steps = ["zstd", "s3"]
    journal.done = 1
    journal.name = archive + ".zst"
    journal.note(1).update(phase="uploading", path="bucket/x.events.zst")
    save_journal(journal, now=101.0)
    assert journal.path == archive + ".state" == journal_path(archive)
    raw = json.loads(Path(journal.path).read_text())
    assert raw["format"] == "shoebox-journal" and raw["version"] == 1
    assert (raw["archive"], raw["name"], raw["done"]) == ("x.events", "x.events.zst", 1)
    loaded = load_journal(journal.path)
    assert (loaded.archive, loaded.name, loaded.steps) == (archive, archive + ".zst", journal.steps)
    assert loaded.notes == {"1": {"phase": "uploading", "path": "bucket/x.events.zst"}}
    assert (loaded.sealed, loaded.updated, loaded.owner) == (100.0, 101.0, owner_token())
    assert os.listdir(tmp_path) == ["x.events.state"], "no temporary file is left"
    assert find_journals(str(tmp_path)) == [journal.path]


def test_a_damaged_or_newer_journal_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.events.state"
    for content in (b"{not json", b'{"format": "shoebox-journal", "version": 99}', b"[]"):
        path.write_bytes(content)
        with pytest.raises(JournalError, match="x.events.state"):
            load_journal(str(path))


def test_owner_liveness() -> None:
    assert owner_alive(owner_token()) is True
    host, pid, start = owner_token().split(":")
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    assert owner_alive(f"{host}:{proc.stdout.strip()}:1") is False  # gone
    assert owner_alive(f"{host}:{os.getppid()}:not-its-start-time") is False  # pid reused
    assert owner_alive(f"another-host-{host}:{pid}:{start}") is None  # cannot tell


# -- the journaled chain ---------------------------------------------------------------------------


def test_the_journal_follows_the_file_from_open_to_the_last_step(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    seen: list[dict[str, object]] = []

    class Peek:
        name = "peek"

        def on_close(self, filename: str) -> None:
            seen.append(json.loads(Path(archive + ".state").read_text()))

    chain = ShippingChain([ZstdCallback(), Peek()])
    chain.on_open(archive)  # what the writer does when the file starts
    opened = load_journal(archive + ".state")
    assert (opened.state, opened.steps, opened.done) == ("writing", ["zstd", "peek"], 0)
    assert chain.on_close(archive) == archive + ".zst"
    # Before the second step ran, the first was recorded durably with the name it produced.
    assert seen[0]["done"] == 1 and seen[0]["name"] == "a.events.zst"
    assert seen[0]["state"] == "sealed"
    assert not os.path.exists(archive + ".state"), "a finished chain removes its journal"


def test_a_failed_step_is_retried_alone_and_earlier_steps_never_run_again(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    first = Step("first", rename=".one")
    second = Step("second", failures=2)
    chain = ShippingChain([first, second])
    for attempt in (1, 2):
        with pytest.raises(CallbackError) as caught:
            chain.on_close(archive)
        assert caught.value.callback == "second"
        journal = load_journal(archive + ".state")
        assert (journal.state, journal.done, journal.name) == ("failed", 1, archive + ".one")
        assert journal.attempts == attempt and "second failed" in (journal.error or "")
    assert chain.on_close(archive) == archive + ".one"
    assert first.calls == [archive]
    assert second.calls == [archive + ".one"] * 3
    assert find_journals(str(tmp_path)) == []


def test_a_step_that_noted_completion_and_removed_its_input_is_not_run_again(
    tmp_path: Path,
) -> None:
    archive = _archive(tmp_path)

    class RemovesInput:
        """Like a transfer with remove_local: notes "completed", deletes, then is killed."""

        name = "ship"
        calls = 0

        def on_close(self, filename: str) -> None:
            RemovesInput.calls += 1
            step = current_step()
            assert step is not None and step.index == 0
            step.record(completed=True)
            os.unlink(filename)
            raise KeyboardInterrupt  # stands for SIGKILL between the step and the journal

    chain = ShippingChain([RemovesInput()])
    with pytest.raises(KeyboardInterrupt):
        chain.on_close(archive)
    journal = load_journal(archive + ".state")
    assert journal.done == 0 and journal.notes == {"0": {"completed": True}}
    assert chain.on_close(archive) == archive
    assert RemovesInput.calls == 1 and find_journals(str(tmp_path)) == []


def test_a_missing_file_without_a_completion_note_fails_and_says_so(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    chain = ShippingChain([Step("ship")])
    chain.on_open(archive)
    os.unlink(archive)
    with pytest.raises(CallbackError, match="missing"):
        chain.on_close(archive)
    assert load_journal(archive + ".state").state == "failed"


def test_a_journal_of_another_chain_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    with pytest.raises(CallbackError):
        ShippingChain([Step("gzip", rename=".gz"), Step("upload", failures=1)]).on_close(archive)
    other = Step("zstd")
    with pytest.raises(StepMismatch, match=r"\['gzip', 'upload'\]") as caught:
        ShippingChain([other, Step("upload")]).on_close(archive)
    assert caught.value.permanent and other.calls == []
    assert os.path.exists(archive + ".gz")
    # The same steps done, and different ones after them, is fine: the rest is run.
    assert ShippingChain([Step("gzip"), Step("s3")]).on_close(archive) == archive + ".gz"


def test_steps_of_a_plain_chain_are_not_journaled(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    chain = ShippingChain([Step("x")], journal=False)
    chain.on_open(archive)
    assert chain.on_close(archive) == archive and find_journals(str(tmp_path)) == []


# -- resuming after a kill ---------------------------------------------------------------------

KILLED_BETWEEN_STEPS = textwrap.dedent(
    """
    import os, signal, sys
    from shoebox_core.ship.compress import ZstdCallback
    from shoebox_core.write.checkers import CountRollChecker
    from shoebox_core.write.manager import WritingRollManager

    class Ship:
        name = "ship"
        def on_close(self, filename):
            os.kill(os.getpid(), signal.SIGKILL)   # killed after zstd, during the upload

    w = WritingRollManager("k_{seq}.events", CountRollChecker(roll_records=10), sys.argv[1],
                           [ZstdCallback(), Ship()], background=False)
    for i in range(25):
        w.write({"i": str(i)}, "p%d" % i)
    """
)


def test_a_writer_killed_between_steps_is_resumed_at_the_step_not_done(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_STEPS, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # Killed in the upload of the first file (at the roll: the chain runs inline here): it is
    # compressed, and its journal says so.
    assert sorted(os.listdir(tmp_path)) == ["k_000000.events.state", "k_000000.events.zst"]
    journal = load_journal(str(tmp_path / "k_000000.events.state"))
    assert (journal.done, journal.steps, journal.state) == (1, ["zstd", "ship"], "sealed")
    assert pending_archives(str(tmp_path)) == [str(tmp_path / "k_000000.events")]

    compressed: list[str] = []
    shipped: list[str] = []

    class Counting(ZstdCallback):
        def on_close(self, filename: str) -> str:
            compressed.append(os.path.basename(filename))
            return super().on_close(filename)

    class Ship:
        name = "ship"

        def on_close(self, filename: str) -> None:
            shipped.append(os.path.basename(filename))

    writer = WritingRollManager("k_{seq}.events", CountRollChecker(roll_records=10),
                                str(tmp_path), [Counting(), Ship()])
    writer.write({"i": "25"}, "p25")
    writer.close()
    # The first file's compression is not repeated, its upload resumes; then the new file.
    assert compressed == ["k_000001.events"]
    assert shipped == ["k_000000.events.zst", "k_000001.events.zst"]
    assert find_journals(str(tmp_path)) == []
    records = list(ReadingRollManager("k_*.events", str(tmp_path)))
    assert [m["i"] for m, _ in records] == [str(i) for i in range(10)] + ["25"]


def test_pending_archives_leaves_files_being_written_and_removes_stale_journals(
    tmp_path: Path,
) -> None:
    writer = WritingRollManager("w_{seq}.events", CountRollChecker(roll_records=100),
                                str(tmp_path), Step("x"))
    writer.write({}, "active")
    assert os.path.exists(tmp_path / "w_000000.events.state")
    assert pending_archives(str(tmp_path)) == [], "a file being written is not pending"
    stale = Journal.new(str(tmp_path / "gone.events"))
    save_journal(stale)  # opened, then nothing: its in-progress file held no record
    other = Journal.new(str(tmp_path / "other.events"), state="sealed")
    Path(other.archive).write_bytes(b"x")
    save_journal(other)
    assert pending_archives(str(tmp_path)) == [other.archive]
    assert not os.path.exists(stale.path)
    import re

    assert pending_archives(str(tmp_path), pattern=re.compile(r"w_\d+\.events")) == []
    writer.close()


def test_a_new_archive_never_takes_over_the_journal_of_an_unfinished_one(tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    moved.mkdir()

    class MoveAway:
        name = "move"

        def on_close(self, filename: str) -> str:
            target = str(moved / os.path.basename(filename))
            os.rename(filename, target)
            return target

    failing = Step("upload", failures=99)
    first = _archive(tmp_path)
    with pytest.raises(CallbackError):
        ShippingChain([MoveAway(), failing]).on_close(first)
    # The name is free again (the file was moved away), so a new archive may get it.
    chain = ShippingChain([MoveAway(), Step("upload")])
    with pytest.raises(CallbackError, match="earlier archive"):
        chain.on_open(first)
    # A writer no longer picks a name whose journal remains (it takes a~001.events)...
    assert _archive(tmp_path) != first and not os.path.exists(first)
    # ...but a file put there by other means still must not take over the journal.
    shutil.copy(str(tmp_path / "a~001.events"), first)
    with pytest.raises(CallbackError, match="kept and was not run") as caught:
        chain.on_close(first)
    assert caught.value.permanent  # type: ignore[attr-defined]
    assert os.path.exists(first)
    assert load_journal(first + ".state").name == str(moved / "a.events")
