"""pytest helpers for plugin authors: test a plugin the way the core tests its own.

Load the fixtures from a ``conftest.py``::

    pytest_plugins = ["shoebox_core.testing"]

which gives ``fake_clock`` (a :class:`~shoebox_core.clock.FakeClock` at :data:`SUNDAY_NIGHT`),
``plugin_manager`` (a fresh manager with only the core's built-ins), ``hook_recorder`` (a
:class:`HookRecorder` on that manager), ``recorder`` / ``recorder_cls`` (a
:class:`RecordingCallback`, the class) and ``shared_data`` / ``nova_records`` (the sample data,
:mod:`.samples`). The core's own tests use the same fixtures. Add
``"shoebox_core.testing.servers"`` for real S3 and Swift servers on 127.0.0.1. Then reuse the
contract suites, which every strategy of a kind must pass::

    from shoebox_core.plugin import fresh_plugin_manager
    from shoebox_core.testing import RollCheckerContract
    from my_plugin import plugin
    from my_plugin.checkers import LineRollChecker

    class TestLineRollChecker(RollCheckerContract):
        numeric_options = {"lines": 1000}
        strategy_name = "lines"

        def make_checker(self, clock):
            return LineRollChecker(lines=1000, clock=clock)

        def make_plugin_manager(self):
            return fresh_plugin_manager(entry_points=False, plugins=[plugin])

    def test_my_plugin_is_attributed(plugin_manager):
        plugin_manager.register(plugin, distribution="my-plugin", version="1.0")
        assert plugin_manager.create_roll_checker("lines", lines="10")

``CallbackContract`` does the same for on-open / on-close callbacks; transfers have
``shoebox_core.testing.transfers.TransferContract`` and, for the ``shoebox`` command shipping to a
bucket and reading it back, ``shoebox_core.testing.cli_roundtrip.CliRoundTripContract``.

(PYTEST_DONT_REWRITE: this module holds no assert, and test modules may import it before pytest
loads it as a plugin; its submodules are rewritten.)
"""

from __future__ import annotations

import pytest

# Before the submodules are imported, so that their asserts explain failures.
pytest.register_assert_rewrite(
    "shoebox_core.testing.callbacks", "shoebox_core.testing.checkers",
    "shoebox_core.testing.transfers",  # TransferContract (imported from there, not re-exported)
    "shoebox_core.testing.cli_roundtrip",  # likewise CliRoundTripContract
    "shoebox_core.testing.samples",
)

# The imports must follow the registration above.
from .checkers import FakeArchive, RollCheckerContract  # noqa: E402
from .plugins import (  # noqa: E402
    SUNDAY_NIGHT,
    HookCall,
    HookRecorder,
    fake_clock,
    hook_recorder,
    plugin_manager,
    recorder,
    recorder_cls,
)
from .samples import nova_records, shared_data  # noqa: E402

__all__ = [
    "SUNDAY_NIGHT",
    "CallbackContract",
    "FakeArchive",
    "HookCall",
    "HookRecorder",
    "RecordingCallback",
    "RollCheckerContract",
    "fake_clock",
    "hook_recorder",
    "nova_records",
    "plugin_manager",
    "recorder",
    "recorder_cls",
    "shared_data",
]

from .callbacks import CallbackContract, RecordingCallback  # noqa: E402
