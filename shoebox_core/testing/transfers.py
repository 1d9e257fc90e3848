"""A reusable test suite for transfers (subclasses of
:class:`~shoebox_core.ship.transfer.Transfer`), for plugin authors and the core alike.

Subclass :class:`TransferContract` in a test module (its name must start with ``Test``) and say
how to build a transfer to a fresh, empty location and how to list what it holds::

    from shoebox_core.testing.transfers import TransferContract

    class TestSwiftTransfer(TransferContract):
        def make_transfer(self, tmp_path, **options):
            return SwiftTransfer(url=f"swift://{new_container()}/prefix", **options)

        def list_objects(self, transfer):
            return {path: transfer.fs.cat_file(path) for path in transfer.fs.find(transfer.root)}

``make_transfer`` is called once per test (each test wants an empty location) and passes its
``options`` (``template``, ``remove_local``...) through. A test that cannot hold for your store can
be overridden with a skip.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from ..clock import FakeClock
from ..errors import ShoeboxError
from ..ship.journal import Journal, StepContext, running_step, save_journal
from ..ship.object_names import ObjectNameError
from ..ship.transfer import Transfer, VerificationError
from ..write.manager import WritingRollManager
from .plugins import SUNDAY_NIGHT

__all__ = ["TransferContract"]


def _archive(directory: Path, records: int, metadata: dict[str, str] | None = None) -> str:
    """A real sealed archive ``directory/a.events``, created 2023-11-12 23:59:58 UTC."""
    clock = FakeClock(start=SUNDAY_NIGHT)
    with WritingRollManager("a.events", None, str(directory), clock=clock) as writer:
        for i in range(records):
            writer.write({**(metadata or {}), "i": str(i)}, f"record {i} " + "x" * (i % 50))
    return str(directory / "a.events")


class TransferContract:
    """Generic tests every transfer must pass."""

    def make_transfer(self, tmp_path: Path, **options: Any) -> Transfer:
        """Return a new transfer to an empty location, built with ``options``."""
        raise NotImplementedError("a TransferContract subclass must define make_transfer")

    def list_objects(self, transfer: Transfer) -> dict[str, bytes]:
        """Every object under the transfer's root: file-system path -> content."""
        fs = transfer.fs
        fs.invalidate_cache()
        return {path: fs.cat_file(path) for path in fs.find(transfer.root)}

    def _names(self, transfer: Transfer) -> list[str]:
        root = transfer.root.rstrip("/") + "/"
        return sorted(p[len(root) :] if p.startswith(root) else p
                      for p in self.list_objects(transfer))

    def test_uploads_a_verified_copy_under_the_template_name(self, tmp_path: Path) -> None:
        archive = _archive(tmp_path / "local", 20, {"kind": "compute"})
        transfer = self.make_transfer(tmp_path, template="{kind}/%Y/%m/%d/{name}")
        shipped = transfer.ship(archive)
        assert shipped.uploaded and shipped.size == os.path.getsize(archive)
        assert self._names(transfer) == ["compute/2023/11/12/a.events"]
        assert list(self.list_objects(transfer).values()) == [Path(archive).read_bytes()]
        assert transfer.stats.as_dict()["files"] == 1

    def test_a_second_shipment_finds_the_copy_and_uploads_nothing(self, tmp_path: Path) -> None:
        archive = _archive(tmp_path / "local", 5)
        transfer = self.make_transfer(tmp_path)
        first = transfer.ship(archive)
        again = transfer.ship(archive)
        assert (again.path, again.uploaded) == (first.path, False)
        assert transfer.stats.as_dict()["already_present"] == 1
        assert len(self.list_objects(transfer)) == 1

    def test_never_overwrites_other_content_under_the_same_name(self, tmp_path: Path) -> None:
        one = _archive(tmp_path / "one", 5)
        two = _archive(tmp_path / "two", 9)
        transfer = self.make_transfer(tmp_path)
        transfer.on_close(one)
        transfer.on_close(two)
        objects = self.list_objects(transfer)
        assert sorted(objects.values(), key=len) == [Path(one).read_bytes(),
                                                     Path(two).read_bytes()]
        assert self._names(transfer) == ["a.events", "a~001.events"]

    def test_removes_the_local_file_only_after_verification(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        archive = _archive(tmp_path / "local", 5)
        transfer = self.make_transfer(tmp_path, remove_local=True)

        def never_equal(*args: Any) -> None:
            return None

        monkeypatch.setattr(transfer, "same_content", never_equal)
        with pytest.raises(VerificationError):
            transfer.on_close(archive)
        assert os.path.exists(archive), "an unverified copy must never cost the local file"
        monkeypatch.undo()
        transfer.on_close(archive)
        assert not os.path.exists(archive)

    def test_a_value_that_would_leave_the_prefix_uploads_nothing(self, tmp_path: Path) -> None:
        archive = _archive(tmp_path / "local", 2, {"kind": "../../escape"})
        transfer = self.make_transfer(tmp_path, template="{kind}/{name}", remove_local=True)
        with pytest.raises(ObjectNameError):
            transfer.on_close(archive)
        assert os.path.exists(archive)
        assert self.list_objects(transfer) == {}

    def test_an_upload_noted_in_the_journal_is_retried_in_place(self, tmp_path: Path) -> None:
        archive = _archive(tmp_path / "local", 30)
        transfer = self.make_transfer(tmp_path)
        target = transfer.remote_path("a.events")
        with contextlib.suppress(OSError, NotImplementedError):
            transfer.fs.makedirs(transfer.fs._parent(target), exist_ok=True)
        transfer.fs.pipe_file(target, Path(archive).read_bytes()[:100])  # an interrupted upload
        journal = Journal.new(archive, state="sealed")
        journal.steps = [transfer.name]
        journal.note(0).update(phase="uploading", path=target)
        save_journal(journal)
        with running_step(StepContext(journal, 0, save_journal)):
            transfer.on_close(archive)
        assert self._names(transfer) == ["a.events"]
        assert self.list_objects(transfer)[target] == Path(archive).read_bytes()
        assert journal.note(0)["completed"] is True

    def test_errors_are_shoebox_errors_naming_the_file(self, tmp_path: Path) -> None:
        transfer = self.make_transfer(tmp_path, template="{kind}/{name}")
        archive = _archive(tmp_path / "local", 1)
        with pytest.raises(ShoeboxError, match="kind"):
            transfer.on_close(archive)
