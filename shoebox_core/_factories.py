"""Building one strategy from its factory and the configured options.

Options are checked against the factory's signature before it is called, so a misspelt key in a
config file is reported with the list of accepted options rather than as a bare ``TypeError``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any, Callable

from .errors import ConfigError, PluginError

__all__ = ["build", "import_factory"]

_SETTABLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def import_factory(path: str) -> Callable[..., Any]:
    """Import and return the callable at ``path`` (``"package.module:Attr"``, ``Attr`` may be
    dotted); any failure is a :class:`PluginError` saying what could not be imported."""
    module_name, _, attr = path.partition(":")
    if not all(part.isidentifier() for part in module_name.split(".") + attr.split(".")):
        raise PluginError(f"{path!r} is not an import path of the form 'package.module:Attr'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(
            f"cannot import {module_name!r} for {path!r}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise PluginError(f"{path!r}: module {module_name!r} has no {attr!r}") from exc
    if not callable(target):
        raise PluginError(f"{path!r} is not callable: {target!r}")
    return target  # type: ignore[no-any-return]


def build(label: str, factory: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Call ``factory(**options)`` after checking the options against its signature.

    ``label`` (``"roll checker 'size' (shoebox-core 0.1.0)"``) starts every error message. Option
    errors the factory raises itself (:class:`ConfigError`, ``TypeError``, ``ValueError``) and
    import errors of a lazily imported factory become :class:`PluginError`, chained.
    """
    check_options(label, factory, options)
    try:
        return factory(**options)
    except PluginError:
        raise
    except (ConfigError, TypeError, ValueError) as exc:
        raise PluginError(f"{label}: {exc}") from exc
    except ImportError as exc:
        raise PluginError(f"{label} cannot be loaded: {type(exc).__name__}: {exc}") from exc


def check_options(label: str, factory: Callable[..., Any], options: dict[str, Any]) -> None:
    """Raise :class:`PluginError` if ``factory`` does not take every key of ``options`` or needs
    one that is missing; the message lists the accepted options."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # no signature to read (a builtin): the factory judges its own options
    except ImportError as exc:
        raise PluginError(f"{label} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    params = list(signature.parameters.values())
    accepted = [p.name for p in params if p.kind in _SETTABLE]
    listing = f"accepted options: {', '.join(accepted) if accepted else 'none'}"
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        unknown = [option for option in options if option not in accepted]
        if unknown:
            hints = [
                f"{option!r} -> {close[0]!r}"
                for option in unknown
                for close in [difflib.get_close_matches(option, accepted, n=1)]
                if close
            ]
            hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
            raise PluginError(
                f"{label} does not accept option {', '.join(map(repr, unknown))}{hint}; {listing}"
            )
    missing = [
        p.name
        for p in params
        if p.default is p.empty and p.kind not in _VARIADIC and p.name not in options
    ]
    if missing:
        raise PluginError(f"{label} needs option {', '.join(map(repr, missing))}; {listing}")
