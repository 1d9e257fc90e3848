"""The ``shoebox`` command.

- :mod:`.main`: the parser, the exit statuses and the subcommands plugins add;
- :mod:`.write`, :mod:`.read`, :mod:`.admin`: the built-in subcommands, each importing what it
  needs only when it runs, so ``shoebox --help`` stays fast;
- :mod:`._common`, :mod:`._progress`: shared options, errors and progress bars;
- :mod:`.sample`: the built-in sample stream of ``shoebox demo``.

The top of the house: may import every other subpackage; nothing imports it.
"""

from __future__ import annotations

from .main import build_parser, builtin_commands, main

__all__ = ["build_parser", "builtin_commands", "main"]
