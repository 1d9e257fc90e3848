"""Reading archives back.

- :mod:`.manager`: :class:`~.manager.ReadingRollManager`, records in write order across files;
- :mod:`.follow`: listing again, following the archive being written, by archive identity;
- :mod:`.position`: positions (checkpoints) and reading an archive on from one;
- :mod:`.sources`: finding archives (a local wildcard, a path, any fsspec URL) and opening each
  once;
- :mod:`.inspection`: what ``shoebox ls`` and ``shoebox verify`` report about an archive.

May import :mod:`shoebox_core.format`, :mod:`shoebox_core.errors` and the journal's names of
in-progress files; never ``write``, ``config``, ``cli`` or ``plugin``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["Damage", "Gap", "NoMoreFiles", "Position", "ReadingRollManager", "find_sources"]

_LAZY = {
    "Damage": (".manager", "Damage"),
    "Gap": (".position", "Gap"),
    "Position": (".position", "Position"),
    "NoMoreFiles": (".manager", "NoMoreFiles"),
    "ReadingRollManager": (".manager", "ReadingRollManager"),
    "find_sources": (".sources", "find_sources"),
}

__getattr__ = lazy_exports(__name__, _LAZY)
