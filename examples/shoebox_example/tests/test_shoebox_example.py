"""shoebox-example tested the way the core tests its own plugins: the shared contract suites,
a fresh plugin manager, a fake clock, and a pipeline built from a config dict."""

from __future__ import annotations

from pathlib import Path

import fsspec
from shoebox_core.clock import FakeClock
from shoebox_core.config import load_pipeline
from shoebox_core.plugin import ShoeboxPluginManager, fresh_plugin_manager
from shoebox_core.read import ReadingRollManager
from shoebox_core.testing import CallbackContract, FakeArchive, RollCheckerContract

from shoebox_example import BatchRollChecker, OutboxUploader, plugin


def _manager() -> ShoeboxPluginManager:
    """The core's built-ins and this plugin only, whatever else is installed."""
    return fresh_plugin_manager(entry_points=False, plugins=[plugin])


class TestBatchRollChecker(RollCheckerContract):
    numeric_options = {"min_records": 10, "min_seconds": 30}
    strategy_name = "batch"

    def make_checker(self, clock: FakeClock) -> BatchRollChecker:
        return BatchRollChecker(min_records=1, min_seconds=30, clock=clock)

    def make_plugin_manager(self) -> ShoeboxPluginManager:
        return _manager()


class TestOutboxUploader(CallbackContract):
    def make_callback(self, tmp_path: Path) -> OutboxUploader:
        # fsspec's memory file system: the copies live outside tmp_path, as remote ones would.
        return OutboxUploader(url=f"memory://outbox-{tmp_path.name}")


def test_batch_rolls_only_once_both_conditions_hold(fake_clock: FakeClock) -> None:
    checker = BatchRollChecker(min_records=3, min_seconds=60, clock=fake_clock)
    archive = FakeArchive()
    checker.start(archive)
    archive.write(records=3)
    assert not checker.check(archive)  # records enough, not old enough
    assert checker.seconds_left(archive) == 60
    fake_clock.advance(60)
    assert checker.check(archive)


def test_the_plugin_offers_both_strategies(plugin_manager: ShoeboxPluginManager) -> None:
    plugin_manager.register(plugin, distribution="shoebox-example", version="0.1.0")
    origins = {i.name: i.origin for i in plugin_manager.strategies()}
    assert origins["batch"] == origins["outbox"] == "shoebox-example 0.1.0"
    assert isinstance(plugin_manager.create_callback("outbox", url="memory://x"), OutboxUploader)


def test_a_pipeline_uploads_every_sealed_archive(tmp_path: Path) -> None:
    outbox = f"memory://pipeline-{tmp_path.name}"
    pipeline = load_pipeline(
        {
            "directory": str(tmp_path / "archive"),
            "template": "events_{seq}.events",
            "roll": [{"plugin": "count", "roll_records": 10}],
            "on_close": [{"plugin": "outbox", "url": outbox}, {"plugin": "delete"}],
        },
        plugin_manager=_manager(),
    )
    with pipeline.open_writer() as writer:
        for i in range(25):
            writer.write({"i": str(i)}, f"record {i}")
    fs = fsspec.filesystem("memory")
    uploaded = sorted(fs.ls(f"/pipeline-{tmp_path.name}", detail=False))
    assert len(uploaded) == 3 and not list((tmp_path / "archive").iterdir())
    records = list(ReadingRollManager(f"{outbox}/events_*.events"))
    assert [payload for _, payload in records] == [f"record {i}" for i in range(25)]
