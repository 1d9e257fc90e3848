"""Writing archives: the writing roll manager and what it is made of.

- :mod:`.manager`: :class:`~.manager.WritingRollManager`, the public writer;
- :mod:`.intake`: ``write()``, ``write_many()`` and the records accepted but not yet in a block;
- :mod:`.archive`: the active archive file (open lazily, append blocks, seal);
- :mod:`.policy`: the roll policy, the one place that decides when the active archive rolls;
- :mod:`.checkers`: the core's roll checkers (size, count, never), their base class and
  :class:`~.checkers.RollNeeds`, what a checker declares it needs;
- :mod:`.timer`: the thread that fires time-based rolls and interval flushes;
- :mod:`.handoff`: sealed files handed to their on-close chain, and resumed after a restart;
- :mod:`.naming`: file-name templates and no-clobber reservation of names;
- :mod:`.recovery`: sealing what a crashed writer left.

May import :mod:`shoebox_core.format`, :mod:`shoebox_core.ship` (to hand sealed files to the
on-close chain), :mod:`shoebox_core.errors`, ``clock`` and ``options``; never ``read``, ``config``,
``cli`` or ``plugin``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = [
    "CountRollChecker",
    "NeverRollChecker",
    "RollChecker",
    "RollNeeds",
    "RollPolicy",
    "SizeRollChecker",
    "TemplateNamer",
    "WritingRollManager",
    "recover_directory",
]

_LAZY = {
    "CountRollChecker": (".checkers", "CountRollChecker"),
    "NeverRollChecker": (".checkers", "NeverRollChecker"),
    "RollChecker": (".checkers", "RollChecker"),
    "RollNeeds": (".checkers", "RollNeeds"),
    "RollPolicy": (".policy", "RollPolicy"),
    "SizeRollChecker": (".checkers", "SizeRollChecker"),
    "TemplateNamer": (".naming", "TemplateNamer"),
    "WritingRollManager": (".manager", "WritingRollManager"),
    "recover_directory": (".recovery", "recover_directory"),
}

__getattr__ = lazy_exports(__name__, _LAZY)
