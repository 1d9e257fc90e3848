"""The roll checkers, under the module name stacktach-shoebox users import them from.

They live in :mod:`shoebox_core.write.checkers`; this module keeps the seed's import path.
"""

from __future__ import annotations

from .write.checkers import (
    MB,
    Archive,
    CountRollChecker,
    NeverRollChecker,
    RollChecker,
    SizeRollChecker,
    fast_path,
    time_only,
)

__all__ = [
    "MB",
    "Archive",
    "CountRollChecker",
    "NeverRollChecker",
    "RollChecker",
    "SizeRollChecker",
    "fast_path",
    "time_only",
]
