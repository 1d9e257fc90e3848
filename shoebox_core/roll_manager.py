"""The roll managers, under the module name stacktach-shoebox users import them from."""

from __future__ import annotations

from .read.manager import Damage, NoMoreFiles, ReadingRollManager
from .ship.callbacks import ArchiveCallback
from .write.manager import WritingRollManager

__all__ = [
    "ArchiveCallback",
    "Damage",
    "NoMoreFiles",
    "ReadingRollManager",
    "WritingRollManager",
]
