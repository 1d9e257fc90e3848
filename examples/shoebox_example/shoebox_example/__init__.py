"""shoebox-example: a roll checker and an uploader, written as any shoebox plugin is.

Installing the distribution registers both through its ``shoebox`` entry point
(``shoebox_example.plugin``); a pipeline config then names them ``batch`` and ``outbox``.
"""

from __future__ import annotations

from .checkers import BatchRollChecker
from .uploader import OutboxUploader

__version__ = "0.1.0"

__all__ = ["BatchRollChecker", "OutboxUploader"]
