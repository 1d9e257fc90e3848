"""The roll managers, under the module name stacktach-shoebox users import them from."""

from __future__ import annotations

from .callbacks import ArchiveCallback
from .reader import Damage, NoMoreFiles, ReadingRollManager
from .writer import WritingRollManager

__all__ = [
    "ArchiveCallback",
    "Damage",
    "NoMoreFiles",
    "ReadingRollManager",
    "WritingRollManager",
]
