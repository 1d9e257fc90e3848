"""A reusable test suite for roll checkers, for plugin authors and the core alike.

Subclass :class:`RollCheckerContract` in a test module (the subclass's name must start with
``Test`` so pytest collects it), say how to build the checker and which of its options are
numbers::

    from shoebox_core.testing import RollCheckerContract

    class TestLineRollChecker(RollCheckerContract):
        numeric_options = {"lines": 1000}
        strategy_name = "lines"

        def make_checker(self, clock):
            return LineRollChecker(lines=1000, clock=clock)

A test that cannot hold for your checker can be overridden with a skip.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from ..clock import Clock, FakeClock
from ..plugin._manager import ShoeboxPluginManager, fresh_plugin_manager

__all__ = ["FakeArchive", "RollCheckerContract"]

# Long enough for any rule that does not depend on writes to have fired.
_A_LONG_TIME = 400 * 24 * 3600.0
# Timers wake up a little after the moment they were asked for.
_TIMER_SLACK = 1e-6


class _Handle:
    def __init__(self, archive: FakeArchive) -> None:
        self._archive = archive

    def tell(self) -> int:
        return self._archive.size


@dataclass
class FakeArchive:
    """The least a roll checker may ask of an archive: ``filename``, ``size``, ``record_count``
    and ``get_file_handle().tell()``."""

    filename: str = "archive-0001.shoebox.part"
    size: int = 0
    record_count: int = 0

    def get_file_handle(self) -> _Handle:
        """A handle whose ``tell()`` is ``size``, as the seed's checkers asked."""
        return _Handle(self)

    def write(self, nbytes: int = 100, records: int = 1) -> None:
        """Pretend ``records`` records of ``nbytes`` bytes in all were written."""
        self.size += nbytes
        self.record_count += records


def _state(checker: object) -> Mapping[str, Any]:
    """What a freshly built checker holds, its clock aside."""
    try:
        return {k: v for k, v in vars(checker).items() if k != "clock"}
    except TypeError:
        return {"repr": repr(checker)}


class RollCheckerContract:
    """Generic tests every roll checker must pass.

    Set ``numeric_options`` to a valid number for each numeric option of the checker (they must
    accept numeric strings), ``other_options`` to the rest of a valid construction,
    ``strategy_name`` to the name its plugin registers (checked with :meth:`make_plugin_manager`),
    and ``rolls_when_started`` if the rule rolls an archive that has just started or holds one
    small record.
    """

    numeric_options: ClassVar[Mapping[str, float]] = {}
    other_options: ClassVar[Mapping[str, object]] = {}
    strategy_name: ClassVar[str | None] = None
    rolls_when_started: ClassVar[bool] = False

    def make_checker(self, clock: Clock) -> Any:
        """Return a new checker reading the time from ``clock``."""
        raise NotImplementedError("a RollCheckerContract subclass must define make_checker")

    def make_plugin_manager(self) -> ShoeboxPluginManager:
        """The manager that must offer ``strategy_name`` (default: every installed plugin)."""
        return fresh_plugin_manager()

    def _class(self) -> type:
        return type(self.make_checker(FakeClock()))

    def _build(self, **overrides: object) -> Any:
        options = {**self.other_options, **self.numeric_options, **overrides}
        return self._class()(**options, clock=FakeClock())

    def test_has_the_checker_methods(self) -> None:
        checker = self.make_checker(FakeClock())
        for method in ("start", "check"):
            assert callable(getattr(checker, method, None)), f"a roll checker needs {method}()"
        if hasattr(checker, "seconds_left"):
            assert callable(checker.seconds_left)

    def test_construction_is_keyword_only(self) -> None:
        params = list(inspect.signature(self._class()).parameters.values())
        positional = [
            p.name for p in params if p.kind is not p.KEYWORD_ONLY and p.kind is not p.VAR_KEYWORD
        ]
        assert not positional, f"options must be keyword-only, not {positional}"
        assert any(p.name == "clock" or p.kind is p.VAR_KEYWORD for p in params), (
            "a roll checker takes clock="
        )

    def test_every_option_is_declared(self) -> None:
        params = inspect.signature(self._class()).parameters
        options = {name for name, p in params.items() if p.kind is p.KEYWORD_ONLY} - {"clock"}
        declared = set(self.numeric_options) | set(self.other_options)
        required = {n for n in options if params[n].default is inspect.Parameter.empty}
        assert required <= declared, f"declare {sorted(required - declared)} in the contract"
        assert declared <= options, f"{sorted(declared - options)} are not options of the class"

    def test_numeric_options_accept_numeric_strings(self) -> None:
        expected = _state(self._build())
        for option, value in self.numeric_options.items():
            variants = {str(value), float(value)}
            if float(value).is_integer():
                variants |= {int(value), str(int(value))}
            for variant in variants:
                built = _state(self._build(**{option: variant}))
                assert built == expected, f"{option}={variant!r} built {built}, not {expected}"

    def test_numeric_options_reject_non_numbers(self) -> None:
        for option in self.numeric_options:
            for bad in ("ten", "", True, [1]):
                with pytest.raises((ValueError, TypeError)) as caught:
                    self._build(**{option: bad})
                assert option in str(caught.value), f"the error must name {option!r}"

    def test_start_check_and_seconds_left_on_a_minimal_archive(self) -> None:
        checker = self.make_checker(FakeClock())
        archive = FakeArchive()
        checker.start(archive)
        assert isinstance(checker.check(archive), bool)
        left = getattr(checker, "seconds_left", lambda archive: None)(archive)
        assert left is None or (isinstance(left, (int, float)) and left >= 0)

    def test_a_just_started_archive_does_not_roll(self) -> None:
        if self.rolls_when_started:
            pytest.skip("the checker's rule rolls a just-started archive")
        checker = self.make_checker(FakeClock())
        archive = FakeArchive()
        checker.start(archive)
        assert checker.check(archive) is False
        archive.write()
        assert checker.check(archive) is False

    def _roll_without_writes(self, checker: Any, archive: FakeArchive, clock: FakeClock) -> bool:
        """Let time pass as ``seconds_left`` says; return whether the checker rolled."""
        left = checker.seconds_left(archive) if hasattr(checker, "seconds_left") else None
        if left is None:
            clock.advance(_A_LONG_TIME)
            assert checker.check(archive) is False, "seconds_left() is None but it rolled"
            return False
        if left > 1e-3:
            clock.advance(left - 1e-3)
            assert checker.check(archive) is False, f"rolled before seconds_left() ({left})"
            clock.advance(1e-3)
        clock.advance(_TIMER_SLACK)
        assert checker.check(archive) is True, f"did not roll after seconds_left() ({left})"
        return True

    def test_seconds_left_is_honest(self) -> None:
        clock = FakeClock()
        checker = self.make_checker(clock)
        archive = FakeArchive()
        checker.start(archive)
        archive.write()
        self._roll_without_writes(checker, archive, clock)

    def test_one_checker_serves_archive_after_archive(self) -> None:
        clock = FakeClock()
        checker = self.make_checker(clock)
        for number in range(3):
            archive = FakeArchive(filename=f"archive-{number:04d}.shoebox.part")
            checker.start(archive)
            if not self.rolls_when_started:
                assert checker.check(archive) is False, f"archive {number} rolled at once"
            archive.write()
            self._roll_without_writes(checker, archive, clock)

    def test_repr_names_the_class(self) -> None:
        checker = self.make_checker(FakeClock())
        assert type(checker).__name__ in repr(checker)

    def test_created_by_name(self) -> None:
        if self.strategy_name is None:
            offered = [
                info.name
                for info in self.make_plugin_manager().strategies("roll_checker")
                if info.factory is self._class()
            ]
            assert not offered, f"the class is offered as {offered}: declare strategy_name"
            return
        options = {**self.other_options, **{k: str(v) for k, v in self.numeric_options.items()}}
        checker = self.make_plugin_manager().create_roll_checker(
            self.strategy_name, **options, clock=FakeClock()
        )
        assert isinstance(checker, self._class())
