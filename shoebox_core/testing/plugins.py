"""pytest fixtures for shoebox tests: a fake clock, a fresh plugin manager, a hook recorder and a
recording callback.

They are registered by ``pytest_plugins = ["shoebox_core.testing"]`` in a ``conftest.py``; the
core's own tests use them too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import pluggy
import pytest

from ..clock import FakeClock
from ..plugin._manager import ShoeboxPluginManager, fresh_plugin_manager
from .callbacks import RecordingCallback

__all__ = [
    "SUNDAY_NIGHT",
    "HookCall",
    "HookRecorder",
    "fake_clock",
    "hook_recorder",
    "plugin_manager",
    "recorder",
    "recorder_cls",
]

#: Where ``fake_clock`` starts: Sunday 2023-11-12 23:59:58 UTC, two seconds before a day (and
#: weekday) change, so that names and time rolls cross midnight as soon as a test advances.
SUNDAY_NIGHT = 1_699_833_598.0


@dataclass(frozen=True)
class HookCall:
    """One call of a hook: its name, the plugins whose implementations ran, the arguments."""

    hook: str
    plugins: tuple[str, ...]
    kwargs: Mapping[str, object]


class HookRecorder:
    """Records every hook call made through ``manager`` until :meth:`close`.

    The shoebox plugin manager calls each plugin's implementation on its own, so a call lists the
    one plugin that answered.
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.calls: list[HookCall] = []
        self._undo = manager.add_hookcall_monitoring(self._before, self._after)

    def _before(
        self, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]
    ) -> None:
        self.calls.append(HookCall(hook_name, tuple(i.plugin_name for i in impls), dict(kwargs)))

    def _after(
        self,
        outcome: pluggy.Result[object],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        pass

    def hooks(self) -> list[str]:
        """The names of the hooks called, in order, without repeats."""
        return list(dict.fromkeys(call.hook for call in self.calls))

    def calls_of(self, hook: str) -> list[HookCall]:
        """The calls of the hook named ``hook``."""
        return [call for call in self.calls if call.hook == hook]

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()

    def close(self) -> None:
        """Stop recording."""
        self._undo()


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~shoebox_core.clock.FakeClock` (wall clock at :data:`SUNDAY_NIGHT`, two seconds
    before a day change, UTC) that moves only on ``advance(seconds)`` (both readings) or
    ``jump(seconds)`` (wall clock only)."""
    return FakeClock(start=SUNDAY_NIGHT)


@pytest.fixture
def recorder() -> RecordingCallback:
    """A fresh :class:`~shoebox_core.testing.callbacks.RecordingCallback`."""
    return RecordingCallback()


@pytest.fixture
def recorder_cls() -> type[RecordingCallback]:
    """The recording callback class, for tests that need several."""
    return RecordingCallback


@pytest.fixture
def plugin_manager() -> ShoeboxPluginManager:
    """A fresh plugin manager holding only the core's built-ins, isolated from whatever else is
    installed: register the plugin under test with
    ``plugin_manager.register(module, distribution="my-dist", version="1.0")``, or call
    ``plugin_manager.load_entry_points()`` to test discovery of installed plugins."""
    return fresh_plugin_manager(entry_points=False)


@pytest.fixture
def hook_recorder(plugin_manager: ShoeboxPluginManager) -> Iterator[HookRecorder]:
    """A :class:`HookRecorder` on the ``plugin_manager`` fixture's manager."""
    recorder = HookRecorder(plugin_manager)
    yield recorder
    recorder.close()
