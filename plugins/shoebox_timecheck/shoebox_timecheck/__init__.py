"""shoebox-timecheck: time-based roll checkers for shoebox.

* ``time`` (:class:`TimeRollChecker`): roll ``roll_minutes`` after the archive started;
* ``aligned`` (:class:`AlignedRollChecker`): roll at UTC wall-clock boundaries;
* ``idle`` (:class:`IdleRollChecker`): roll after ``idle_minutes`` without a new record.

Installing the distribution makes the names available to configurations; nothing here needs to be
imported by hand.
"""

from __future__ import annotations

from .checkers import AlignedRollChecker, IdleRollChecker, TimeRollChecker

__version__ = "0.1.0"

__all__ = ["AlignedRollChecker", "IdleRollChecker", "TimeRollChecker", "__version__"]
