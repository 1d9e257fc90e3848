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

The protocols a strategy implements are :class:`RollChecker` (declaring what it needs with
:class:`RollNeeds`), :class:`Namer`,
:class:`ArchiveCallback` and :class:`Transfer` (an uploading callback); :data:`KINDS` describes
each kind (its hook, its config section, its protocol). :func:`number` and :func:`boolean` check
options the way the core's own strategies do (:func:`with_base_options` lets a subclass declare
only its own), and the errors are the core's
(:mod:`shoebox_core.errors`): :class:`ConfigError` for a bad option, :class:`TransferError` for a
failed upload, :class:`CommandError` to end a subcommand with an exit status. Test with
:mod:`shoebox_core.testing` (fresh plugin manager, fake clock, contract suites). Installed is
not active: a pipeline uses only the strategies its config names.

Applications build strategies by name with :func:`create` (or :func:`create_roll_checker`...,
one per kind); :func:`get_plugin_manager` is the process-wide manager, built on first use.

This package may import the whole core (lazily, but for the errors, the clock and the option
helpers); only the config loader and the CLI import it.
"""

from __future__ import annotations

from .._lazy import lazy_exports
from ..clock import Clock
from ..errors import (
    CallbackError,
    CommandError,
    ConfigError,
    PluginError,
    ShoeboxError,
    TransferError,
)
from ..options import boolean, number
from ._kinds import KINDS, KindSpec, Namer
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
from ._strategies import with_base_options

__all__ = [
    "KINDS",
    "ArchiveCallback",
    "CallbackError",
    "Clock",
    "CommandError",
    "ConfigError",
    "Conflict",
    "KindSpec",
    "Namer",
    "PluginError",
    "PluginFailure",
    "RollChecker",
    "RollNeeds",
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
    "with_base_options",
]

# The base classes pull in the writer's and the shipper's modules: resolved on first use.
_PROTOCOLS = {
    "ArchiveCallback": "shoebox_core.ship.callbacks",
    "RollChecker": "shoebox_core.write.checkers",
    "RollNeeds": "shoebox_core.write.checkers",
    "Transfer": "shoebox_core.ship.transfer",
}

__getattr__ = lazy_exports(__name__, {name: (module, name) for name, module in _PROTOCOLS.items()})
