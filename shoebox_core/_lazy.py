"""Names a package exports but imports only on first use (PEP 562 ``__getattr__``)."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def lazy_exports(package: str, table: dict[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name`` to ``table[name] = (module, attribute)``;
    ``module`` may be relative to ``package``. Importing the package stays cheap and free of
    import cycles."""

    def __getattr__(name: str) -> Any:
        try:
            module, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(import_module(module, package), attr)

    return __getattr__
