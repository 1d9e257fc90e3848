"""Every name this package takes from shoebox_core below its stable public modules.

Kept in one module so that a reorganisation of the core changes this file only.
"""

from __future__ import annotations

import os

from shoebox_core.recovery import recover_directory

__all__ = ["INPROGRESS_SUFFIX", "fsync_dir", "recover_directory"]

#: What a writer's file is called while it is written (the core's in-progress suffix).
try:
    from shoebox_core._fsutil import INPROGRESS_SUFFIX
except ImportError:  # moved by a reorganisation: the suffix itself is part of the format
    INPROGRESS_SUFFIX = ".inprogress"


def fsync_dir(directory: str) -> None:
    """Make a rename, creation or removal in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
