"""shoebox: append-only, checksummed record archives that roll, compress and ship.

Write with :class:`~shoebox_core.roll_manager.WritingRollManager`, read back with
:class:`~shoebox_core.roll_manager.ReadingRollManager`; every strategy (roll checker, file namer,
on-open / on-close callback, remote transfer) is a plugin found through the ``shoebox`` entry-point
group and created by name with :func:`create`; :func:`load_pipeline` assembles a whole pipeline
from a config file.
"""

from __future__ import annotations

from ._lazy import lazy_exports

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

# Nothing heavy at import time: names resolve on first use.
__getattr__ = lazy_exports(__name__, _LAZY)
