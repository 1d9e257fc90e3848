"""The core's own strategies, registered through the same hooks as any external plugin.

Namers and callbacks are named by import path and imported only when first built (or when their
options are checked), so discovering plugins stays cheap and a broken optional module cannot stop
the roll checkers from loading.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..plugin._spec import Strategy, hookimpl
from ..write.checkers import CountRollChecker, NeverRollChecker, SizeRollChecker

__all__ = [
    "shoebox_callbacks",
    "shoebox_namers",
    "shoebox_roll_checkers",
    "shoebox_transfers",
]


class _Lazy:
    """A factory that imports its target (``"package.module:Attr"``) on first use.

    ``inspect.signature(lazy)`` is the target's signature, so the plugin manager can check options
    before anything is built.
    """

    def __init__(self, path: str) -> None:
        module, _, attr = path.partition(":")
        self.path = path
        # Shown by the plugin manager as the strategy's import path.
        self.__module__ = module
        self.__qualname__ = attr
        self._target: Any = None

    def resolve(self) -> Any:
        """Import and return the target; a missing attribute is an ImportError, as for ``from``."""
        if self._target is None:
            module = importlib.import_module(self.__module__)
            try:
                self._target = getattr(module, self.__qualname__)
            except AttributeError as exc:
                raise ImportError(
                    f"cannot import name {self.__qualname__!r} from {self.__module__!r}"
                ) from exc
        return self._target

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.resolve())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self.path}>"


@hookimpl
def shoebox_roll_checkers() -> list[Strategy]:
    """The core's roll checkers: ``size``, ``count`` and ``never``."""
    return [
        Strategy("size", SizeRollChecker, "Roll when the archive reaches roll_size_mb MiB."),
        Strategy("count", CountRollChecker, "Roll when the archive holds roll_records records."),
        Strategy("never", NeverRollChecker, "Never roll: one archive until the writer closes."),
    ]


# The namers, callbacks and transfer of the core: (name, import path, summary).
_NAMERS = (
    ("template", "shoebox_core.write.naming:TemplateNamer",
     "Name archives from a filename template."),
)
_CALLBACKS = (
    ("gzip", "shoebox_core.ship.compress:GzipCallback", "Compress sealed archives with gzip."),
    ("zstd", "shoebox_core.ship.compress:ZstdCallback", "Compress sealed archives with zstd."),
    ("move", "shoebox_core.ship.file_callbacks:MoveCallback",
     "Move sealed archives to another directory."),
    ("change_extension", "shoebox_core.ship.file_callbacks:ChangeExtensionCallback",
     "Rename sealed archives to a new extension."),
    ("delete", "shoebox_core.ship.file_callbacks:DeleteCallback",
     "Delete sealed archives (last in a chain, after a verified transfer)."),
)
_TRANSFERS = (
    ("fsspec", "shoebox_core.ship.transfer:Transfer",
     "Upload sealed archives to any fsspec URL or directory, verified."),
)


def _lazy(offers: tuple[tuple[str, str, str], ...]) -> list[Strategy]:
    return [Strategy(name, _Lazy(path), summary) for name, path, summary in offers]


@hookimpl
def shoebox_namers() -> list[Strategy]:
    """The core's namer: ``template``."""
    return _lazy(_NAMERS)


@hookimpl
def shoebox_callbacks() -> list[Strategy]:
    """The core's callbacks: ``gzip``, ``zstd``, ``move``, ``change_extension`` and ``delete``."""
    return _lazy(_CALLBACKS)


@hookimpl
def shoebox_transfers() -> list[Strategy]:
    """The core's transfer: ``fsspec`` (any fsspec URL or a local directory)."""
    return _lazy(_TRANSFERS)
