"""The plugin author's kit: everything a shoebox plugin distribution imports from the core.

A plugin is a module with functions marked by :data:`hookimpl`, named after the hooks
(``shoebox_roll_checkers``, ``shoebox_namers``, ``shoebox_callbacks``, ``shoebox_transfers``,
``shoebox_subcommands``). Each returns (or yields) :class:`Strategy` objects (a name, a factory,
a summary), or :class:`Subcommand` objects for the last one. Register the module under the
``shoebox`` entry-point group of your distribution::

    [project.entry-points.shoebox]
    lines = "shoebox_lines.plugin"

and write the module::

    from shoebox_core.plugin import RollChecker, Strategy, hookimpl

    class LineRollChecker(RollChecker):
        def __init__(self, *, lines, clock=None):
            super().__init__(clock=clock)
            self.lines = int(lines)

        def check(self, archive):
            return archive.record_count >= self.lines

    @hookimpl
    def shoebox_roll_checkers():
        yield Strategy("lines", LineRollChecker, "Roll after N records.")

The protocols a strategy implements are :class:`RollChecker`, :class:`ArchiveCallback` and
:class:`Transfer` (an uploading callback); :func:`number` and :func:`boolean` check options the
way the core's own strategies do, and the errors (:class:`ConfigError` for a bad option...) are
the core's. Test with :mod:`shoebox_core.testing` (fresh plugin manager, fake clock, contract
suites). Installed is not active: a pipeline uses only the strategies its config names.

Applications build strategies by name with :func:`create` (or :func:`create_roll_checker`...,
one per kind); :func:`get_plugin_manager` is the process-wide manager, built on first use.

This package may import the whole core; nothing in the core imports it except the CLI.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._manager import (
    Conflict,
    PluginFailure,
    ShoeboxPluginManager,
    StrategyInfo,
    create,
    create_callback,
    create_namer,
    create_roll_checker,
    create_transfer,
    fresh_plugin_manager,
    get_plugin_manager,
)
from ._spec import Strategy, Subcommand, hookimpl

__all__ = [
    "ArchiveCallback",
    "CallbackError",
    "Clock",
    "ConfigError",
    "Conflict",
    "PluginError",
    "PluginFailure",
    "RollChecker",
    "ShoeboxError",
    "ShoeboxPluginManager",
    "Strategy",
    "StrategyInfo",
    "Subcommand",
    "Transfer",
    "TransferError",
    "boolean",
    "create",
    "create_callback",
    "create_namer",
    "create_roll_checker",
    "create_transfer",
    "fresh_plugin_manager",
    "get_plugin_manager",
    "hookimpl",
    "number",
]

_LAZY = {
    "ArchiveCallback": ("shoebox_core.ship.callbacks", "ArchiveCallback"),
    "CallbackError": ("shoebox_core.errors", "CallbackError"),
    "Clock": ("shoebox_core.clock", "Clock"),
    "ConfigError": ("shoebox_core.errors", "ConfigError"),
    "PluginError": ("shoebox_core.errors", "PluginError"),
    "RollChecker": ("shoebox_core.write.checkers", "RollChecker"),
    "ShoeboxError": ("shoebox_core.errors", "ShoeboxError"),
    "Transfer": ("shoebox_core.ship.transfer", "Transfer"),
    "TransferError": ("shoebox_core.ship.transfer", "TransferError"),
    "boolean": ("shoebox_core.options", "boolean"),
    "number": ("shoebox_core.options", "number"),
}


def __getattr__(name: str) -> Any:
    # The protocols pull in the writer's modules: resolved on first use, not at import.
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'shoebox_core.plugin' has no attribute {name!r}") from None
    return getattr(import_module(module), attr)
