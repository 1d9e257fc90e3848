"""Every name this package takes from shoebox_core beyond its stable public modules.

Kept in one module so that a reorganisation of the core changes this file only.
"""

from __future__ import annotations

import os

from shoebox_core.write import recover_directory

__all__ = ["fsync_dir", "recover_directory"]


def fsync_dir(directory: str) -> None:
    """Make a rename, creation or removal in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
