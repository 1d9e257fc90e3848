"""shoebox: append-only, checksummed record archives that roll, compress and ship.

Write with :class:`~shoebox_core.roll_manager.WritingRollManager`, read back with
:class:`~shoebox_core.roll_manager.ReadingRollManager`; every strategy (roll checker, file namer,
on-open / on-close callback, remote transfer) is a plugin found through the ``shoebox`` entry-point
group and created by name with :func:`create`; :func:`load_pipeline` assembles a whole pipeline
from a config file.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "ArchiveCallback",
    "NoMoreFiles",
    "ReadingRollManager",
    "WritingRollManager",
    "create",
    "hookimpl",
    "load_pipeline",
]

_LAZY = {
    "ArchiveCallback": ("shoebox_core.ship.callbacks", "ArchiveCallback"),
    "NoMoreFiles": ("shoebox_core.read.manager", "NoMoreFiles"),
    "ReadingRollManager": ("shoebox_core.read.manager", "ReadingRollManager"),
    "WritingRollManager": ("shoebox_core.write.manager", "WritingRollManager"),
    "create": ("shoebox_core.plugin", "create"),
    "hookimpl": ("shoebox_core.plugin", "hookimpl"),
    "load_pipeline": ("shoebox_core.config", "load_pipeline"),
}


def __getattr__(name: str) -> Any:
    # Nothing heavy at import time: names resolve on first use.
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'shoebox_core' has no attribute {name!r}") from None
    return getattr(import_module(module), attr)
