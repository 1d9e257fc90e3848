"""Strategies once gathered by the plugin manager, and building one from its options.

Options are checked against the factory's signature before it is called, so a misspelt key in a
config file is reported with the list of accepted options rather than as a bare ``TypeError``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError, PluginError

__all__ = ["LABELS", "Conflict", "PluginFailure", "StrategyInfo", "build", "import_factory"]

#: How messages call each kind of strategy.
LABELS = {
    "roll_checker": "roll checker",
    "namer": "namer",
    "callback": "callback",
    "transfer": "transfer",
    "subcommand": "subcommand",
}

_SETTABLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _origin(distribution: str, version: str | None) -> str:
    return distribution if version is None else f"{distribution} {version}"


@dataclass(frozen=True)
class StrategyInfo:
    """A strategy as installed: what a plugin offered, and which distribution offered it."""

    name: str
    kind: str
    factory: Callable[..., Any]
    summary: str
    distribution: str
    version: str | None

    @property
    def origin(self) -> str:
        """``"distribution version"``, as shown in messages."""
        return _origin(self.distribution, self.version)


@dataclass(frozen=True)
class PluginFailure:
    """A skipped plugin: it failed to import or register, or its ``hook`` raised."""

    plugin: str
    distribution: str
    version: str | None
    error: BaseException
    hook: str | None = None

    def __str__(self) -> str:
        during = f" in {self.hook}()" if self.hook else ""
        return (
            f"plugin {self.plugin!r} from {_origin(self.distribution, self.version)} failed"
            f"{during}: {type(self.error).__name__}: {self.error}"
        )


@dataclass(frozen=True)
class Conflict:
    """One name of one kind offered more than once; building it raises :class:`PluginError`."""

    kind: str
    name: str
    offers: tuple[StrategyInfo, ...]

    def __str__(self) -> str:
        offers = ", ".join(f"{info.origin} ({_import_path(info.factory)})" for info in self.offers)
        return (
            f"{LABELS[self.kind]} {self.name!r} is offered by more than one plugin: {offers}."
            " Uninstall all but one, or name the one you want by its import path."
        )


def _import_path(factory: Callable[..., Any]) -> str:
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(factory)


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
                f"{close[0]!r} instead of {option!r}"
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
