"""shoebox-swift: ship sealed archives to OpenStack Swift, and read them back, through fsspec.

* :class:`SwiftFileSystem`: an fsspec filesystem for Swift (protocol ``swift``, registered through
  the ``fsspec.specs`` entry point, so ``swift://container/path`` URLs work anywhere fsspec does);
* :class:`SwiftTransfer`: the ``swift`` transfer strategy, an on-close upload to
  ``swift://container/prefix/...``, verified before the local copy may go.

Nothing heavy is imported until a name is used: the ``shoebox`` entry point only lists strategies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["SwiftFileSystem", "SwiftTransfer", "__version__", "file_etag"]

_LAZY = {
    "SwiftFileSystem": "shoebox_swift.filesystem",
    "file_etag": "shoebox_swift.filesystem",
    "SwiftTransfer": "shoebox_swift.transfer",
}

if TYPE_CHECKING:
    from .filesystem import SwiftFileSystem, file_etag
    from .transfer import SwiftTransfer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shoebox_swift' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
