"""shoebox-timecheck: the time, aligned and idle roll checkers under a fake clock."""

from __future__ import annotations

import inspect
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from shoebox_core.clock import Clock, FakeClock
from shoebox_core.errors import ConfigError
from shoebox_core.plugin import ShoeboxPluginManager, fresh_plugin_manager
from shoebox_core.testing import FakeArchive, RollCheckerContract
from shoebox_core.write.checkers import RollNeeds

PLUGIN_DIR = Path(__file__).resolve().parents[1]

try:
    import shoebox_timecheck
except ImportError:  # not installed in this environment: test the source tree
    sys.path.insert(0, str(PLUGIN_DIR))
    import shoebox_timecheck

# After the fallback above, which may have put the source tree on sys.path.
from shoebox_timecheck import (  # noqa: E402
    AlignedRollChecker,
    IdleRollChecker,
    TimeRollChecker,
    plugin,
)

# Tuesday 2023-11-14 22:13:20 UTC.
NOW = 1_700_000_000.0
UTC = timezone.utc


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _manager() -> ShoeboxPluginManager:
    manager = fresh_plugin_manager(entry_points=False)
    manager.register(
        plugin, distribution="shoebox-timecheck", version=shoebox_timecheck.__version__
    )
    return manager


class _TimecheckContract(RollCheckerContract):
    def make_plugin_manager(self) -> ShoeboxPluginManager:
        return _manager()


class TestTimeRollCheckerContract(_TimecheckContract):
    numeric_options = {"roll_minutes": 15}
    strategy_name = "time"

    def make_checker(self, clock: Clock) -> TimeRollChecker:
        return TimeRollChecker(roll_minutes=15, clock=clock)


class TestFractionalTimeRollCheckerContract(_TimecheckContract):
    numeric_options = {"roll_minutes": 0.1}
    strategy_name = "time"

    def make_checker(self, clock: Clock) -> TimeRollChecker:
        return TimeRollChecker(roll_minutes=0.1, clock=clock)


class TestAlignedRollCheckerContract(_TimecheckContract):
    numeric_options = {"every_minutes": 60, "offset_minutes": 5}
    strategy_name = "aligned"

    def make_checker(self, clock: Clock) -> AlignedRollChecker:
        return AlignedRollChecker(every_minutes=60, offset_minutes=5, clock=clock)


class TestIdleRollCheckerContract(_TimecheckContract):
    numeric_options = {"idle_minutes": 5}
    strategy_name = "idle"

    def make_checker(self, clock: Clock) -> IdleRollChecker:
        return IdleRollChecker(idle_minutes=5, clock=clock)


def _started(checker_class: type, clock: FakeClock, **options: object) -> tuple[Any, FakeArchive]:
    """A checker of ``checker_class`` started on an archive that then received one record."""
    checker = checker_class(clock=clock, **options)
    archive = FakeArchive()
    checker.start(archive)
    archive.write()
    return checker, archive


@pytest.mark.parametrize(
    "checker_class, options",
    [
        (TimeRollChecker, {"roll_minutes": 1}),
        (AlignedRollChecker, {}),
        (IdleRollChecker, {"idle_minutes": 1}),
    ],
)
def test_checks_are_polled_by_the_timer_and_nothing_happens_before_start(
    checker_class: type, options: dict[str, object]
) -> None:
    checker = checker_class(**options)
    assert checker.needs(FakeArchive()) == RollNeeds(timed=True)
    assert checker.check(FakeArchive(record_count=3)) is False
    assert checker.seconds_left(FakeArchive(record_count=3)) is None


# -- time ---------------------------------------------------------------------------------------


def test_time_rolls_roll_minutes_after_the_start() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(TimeRollChecker, clock, roll_minutes="15")
    assert checker.seconds_left(archive) == 900
    clock.advance(899)
    assert (checker.check(archive), checker.seconds_left(archive)) == (False, 1)
    clock.advance(1)
    assert (checker.check(archive), checker.seconds_left(archive)) == (True, 0)


def test_time_accepts_fractional_minutes() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(TimeRollChecker, clock, roll_minutes=0.1)
    clock.advance(5.9)
    assert checker.check(archive) is False
    clock.advance(0.1)
    assert checker.check(archive) is True


def test_time_ignores_wall_clock_jumps() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(TimeRollChecker, clock, roll_minutes=15)
    clock.jump(+3600)
    assert checker.check(archive) is False
    clock.jump(-7200)
    clock.advance(899)
    assert checker.check(archive) is False
    clock.advance(1)
    assert checker.check(archive) is True


def test_time_keeps_start_and_end_times_in_utc_for_the_old_api() -> None:
    clock = FakeClock(NOW)
    checker = TimeRollChecker(roll_minutes=15, clock=clock)
    assert checker.start_time is None and checker.end_time is None
    checker.start(FakeArchive())
    assert checker.start_time is not None and checker.end_time is not None
    assert checker.start_time == _at("2023-11-14T22:13:20")
    assert checker.end_time - checker.start_time == timedelta(minutes=15)
    assert checker.start_time.utcoffset() == timedelta(0)


def test_time_restarts_with_each_archive() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(TimeRollChecker, clock, roll_minutes=1)
    clock.advance(90)
    assert checker.check(archive) is True
    second = FakeArchive()
    checker.start(second)
    assert (checker.check(second), checker.seconds_left(second)) == (False, 60)


@pytest.mark.parametrize("bad", [0, -1, "soon", "nan", None])
def test_time_refuses_a_bad_duration_naming_the_option(bad: object) -> None:
    with pytest.raises(ConfigError, match="roll_minutes"):
        TimeRollChecker(roll_minutes=bad)  # type: ignore[arg-type]


# -- aligned ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, end",
    [
        ({}, "2023-11-14T23:00:00"),
        ({"every_minutes": "1440"}, "2023-11-15T00:00:00"),
        ({"every_minutes": 15}, "2023-11-14T22:15:00"),
        ({"every_minutes": 60, "offset_minutes": "5"}, "2023-11-14T23:05:00"),
        ({"every_minutes": 1440, "offset_minutes": 120}, "2023-11-15T02:00:00"),
    ],
)
def test_aligned_rolls_at_utc_boundaries(options: dict, end: str) -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(AlignedRollChecker, clock, **options)
    assert checker.end_time == _at(end)
    left = checker.seconds_left(archive)
    assert left == (_at(end) - _at("2023-11-14T22:13:20")).total_seconds()
    clock.advance(left - 1)
    assert checker.check(archive) is False
    clock.advance(1)
    assert checker.check(archive) is True


def test_aligned_started_on_a_boundary_rolls_at_the_next_one() -> None:
    clock = FakeClock(_at("2023-11-14T23:00:00").timestamp())
    checker, archive = _started(AlignedRollChecker, clock)
    assert checker.check(archive) is False
    assert checker.end_time == _at("2023-11-15T00:00:00")


def test_aligned_rolls_at_once_when_the_wall_clock_jumps_past_the_boundary() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(AlignedRollChecker, clock)
    clock.jump(3 * 3600)
    assert (checker.check(archive), checker.seconds_left(archive)) == (True, 0)
    checker.start(FakeArchive())
    assert checker.end_time == _at("2023-11-15T02:00:00")


def test_aligned_keeps_its_boundary_when_the_wall_clock_jumps_back() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(AlignedRollChecker, clock)
    clock.jump(-3600)  # 21:13:20 on the wall clock
    clock.advance(2800)  # the wall clock reads 22:00, not the 23:00 boundary
    assert checker.check(archive) is False
    assert checker.end_time == _at("2023-11-14T23:00:00")
    assert checker.seconds_left(archive) == 3600
    clock.advance(3600)
    assert checker.check(archive) is True


@pytest.mark.parametrize(
    "options", [{"every_minutes": 0}, {"offset_minutes": -5}, {"offset_minutes": 60}]
)
def test_aligned_refuses_bad_periods_and_offsets(options: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(options))):
        AlignedRollChecker(**options)


# -- idle ---------------------------------------------------------------------------------------


def test_idle_stays_open_while_records_keep_arriving() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(IdleRollChecker, clock, idle_minutes=5)
    for _ in range(30):  # ten minutes of timer ticks every 20 s, a record between each
        clock.advance(20)
        archive.write()
        assert checker.check(archive) is False
        assert checker.seconds_left(archive) == 300


def test_idle_rolls_after_idle_minutes_without_a_record() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(IdleRollChecker, clock, idle_minutes="5")
    clock.advance(20)
    assert checker.check(archive) is False  # this tick sees the first record
    clock.advance(299)
    assert (checker.check(archive), checker.seconds_left(archive)) == (False, 1)
    clock.advance(1)
    assert checker.check(archive) is True


def test_idle_dates_activity_at_the_tick_that_sees_it() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(IdleRollChecker, clock, idle_minutes=1)
    clock.advance(59)
    archive.write()
    clock.advance(30)
    assert checker.check(archive) is False  # the record is seen now, not when it was written
    clock.advance(59)
    assert checker.check(archive) is False
    clock.advance(1)
    assert checker.check(archive) is True


def test_idle_never_rolls_an_empty_archive() -> None:
    clock = FakeClock(NOW)
    checker = IdleRollChecker(idle_minutes=1, clock=clock)
    archive = FakeArchive()
    checker.start(archive)
    clock.advance(86400)
    assert (checker.check(archive), checker.seconds_left(archive)) == (False, None)


def test_idle_ignores_wall_clock_jumps() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(IdleRollChecker, clock, idle_minutes=1)
    clock.jump(+86400)
    assert checker.check(archive) is False


def test_idle_watches_each_new_archive_from_its_start() -> None:
    clock = FakeClock(NOW)
    checker, archive = _started(IdleRollChecker, clock, idle_minutes=1)
    assert checker.check(archive) is False  # sees the record
    clock.advance(60)
    assert checker.check(archive) is True
    second = FakeArchive(record_count=1)
    checker.start(second)
    assert checker.check(second) is False
    assert checker.seconds_left(second) == 60


# -- the distribution ---------------------------------------------------------------------------


def test_the_plugin_offers_three_roll_checkers_attributed_to_shoebox_timecheck() -> None:
    manager = _manager()
    infos = {
        i.name: i for i in manager.strategies("roll_checker") if i.distribution != "shoebox-core"
    }
    assert sorted(infos) == ["aligned", "idle", "time"]
    assert {i.origin for i in infos.values()} == {"shoebox-timecheck 0.1.0"}
    assert all(i.summary for i in infos.values())
    assert manager.conflicts == [] and manager.failures == []
    checker = manager.create_roll_checker("time", roll_minutes="15")
    assert isinstance(checker, TimeRollChecker) and checker.roll_minutes == 15


def test_an_installed_shoebox_timecheck_is_found_through_its_entry_point() -> None:
    try:
        installed = metadata.version("shoebox-timecheck")
    except metadata.PackageNotFoundError:
        pytest.fail("shoebox-timecheck is not installed: run the README's test command, which "
                    "installs it (pip install -e ./plugins/shoebox_timecheck)")
    manager = fresh_plugin_manager()
    (info,) = [i for i in manager.strategies("roll_checker") if i.name == "aligned"]
    assert (info.distribution, info.version) == ("shoebox-timecheck", installed)


def test_the_readme_documents_every_option_and_the_pyproject_declares_the_entry_point() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text()
    for checker_class in (TimeRollChecker, AlignedRollChecker, IdleRollChecker):
        for option in inspect.signature(checker_class).parameters:
            assert option == "clock" or f"`{option}`" in readme, option
    assert 'plugin = "time"' in readme and "roll_minutes = 15" in readme
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text())["project"]
    assert project["name"] == "shoebox-timecheck"
    assert project["version"] == shoebox_timecheck.__version__
    assert project["dependencies"] == ["shoebox-core>=0.1,<0.2"]
    assert project["entry-points"]["shoebox"] == {"timecheck": "shoebox_timecheck.plugin"}
    assert (PLUGIN_DIR / "shoebox_timecheck" / "py.typed").exists()
