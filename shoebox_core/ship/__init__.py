"""What happens to a sealed archive: the on-close chain and shipping to remote storage.

- :mod:`.callbacks`: :class:`~.callbacks.ArchiveCallback` (the callback protocol) and a plain
  chain of callbacks;
- :mod:`.chain`: the journaled chain a writer runs for each sealed file;
- :mod:`.journal`: each file's ``<name>.state`` record of the steps done;
- :mod:`.background`: the bounded background worker; :mod:`.retry` and :mod:`.breaker`: its
  retry policy and circuit breaker; :mod:`.progress`: its events and counters;
- :mod:`.compress`: the gzip and zstd on-close callbacks; :mod:`.file_callbacks`: move, change
  extension, delete;
- :mod:`.transfer`: the base upload (any fsspec URL), verified before the local copy goes;
  :mod:`.object_names`: deterministic object names; :mod:`.shipped`: what a store says about an
  object, a verified copy, a transfer's counters;
- :mod:`.status`: what a directory still has to ship.

May import :mod:`shoebox_core.format` (to read an archive's facts), ``errors``, ``clock`` and
``options``; never ``write``, ``config``, ``cli`` or ``plugin``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = [
    "ArchiveCallback", "BacklogFull", "GzipCallback", "RetryPolicy", "Transfer", "ZstdCallback",
    "directory_status",
]

_LAZY = {
    "ArchiveCallback": (".callbacks", "ArchiveCallback"),
    "BacklogFull": (".background", "BacklogFull"),
    "GzipCallback": (".compress", "GzipCallback"),
    "RetryPolicy": (".background", "RetryPolicy"),
    "Transfer": (".transfer", "Transfer"),
    "ZstdCallback": (".compress", "ZstdCallback"),
    "directory_status": (".status", "directory_status"),
}

__getattr__ = lazy_exports(__name__, _LAZY)
