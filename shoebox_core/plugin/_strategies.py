"""Strategies once gathered by the plugin manager, and building one from its options.

Options are checked against the factory's signature before it is called, so a misspelt key in a
config file is reported with the list of accepted options rather than as a bare ``TypeError``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from ..errors import ConfigError, PluginError
from ._kinds import KindSpec, kind_named

__all__ = [
    "Conflict", "PluginFailure", "StrategyInfo", "build", "import_factory", "unknown_name",
    "with_base_options",
]

_Class = TypeVar("_Class", bound=type)
_SETTABLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _origin(distribution: str, version: str | None) -> str:
    return distribution if version is None else f"{distribution} {version}"


@dataclass(frozen=True)
class StrategyInfo:
    """A strategy as installed: what a plugin offered, and which distribution offered it.

    ``kind`` is a kind's name (``"roll_checker"``, see :mod:`._kinds`); ``factory`` builds it (a
    subcommand's action); ``offer`` is the :class:`Strategy` or :class:`Subcommand` as offered.
    """

    name: str
    kind: str
    factory: Callable[..., Any]
    summary: str
    distribution: str
    version: str | None
    offer: Any = field(default=None, repr=False, compare=False)

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
            f"{kind_named(self.kind).label} {self.name!r} is offered by more than one plugin:"
            f" {offers}."
            " Uninstall all but one, or name the one you want by its import path."
        )


def _import_path(factory: Callable[..., Any]) -> str:
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(factory)


def install_hint(dist: str) -> str:
    """How to install the distribution ``dist``, from a package index or from a clone of the
    repository (where a plugin lives in ``plugins/<name>``): both forms, since a clone's user
    cannot install a name no index serves."""
    folder = dist.replace("-", "_")
    return f"pip install {dist} (from a clone: pip install -e ./plugins/{folder})"


def unknown_name(
    name: str,
    label: str,
    kinds: Sequence[KindSpec[Any]],
    offers: Mapping[str, Mapping[str, list[StrategyInfo]]],
    failures: Iterable[PluginFailure],
) -> str:
    """Why ``name`` names no strategy of ``kinds`` (``label`` says how: ``"callback or
    transfer"``): what to install if a known distribution offers it (or that it is installed but
    was skipped, of ``failures``), close matches, and every name of ``offers`` of those kinds with
    its origin."""
    lines = [f"unknown {label} {name!r}."]
    elsewhere = {n: (kind, dist) for kind in kinds for n, dist in kind.elsewhere}
    if name in elsewhere:
        kind, dist = elsewhere[name]
        broken = [f for f in failures if f.distribution.lower().replace("_", "-") == dist]
        lines.append(
            f"{name!r} comes from {dist}, which is installed but was skipped: {broken[0]}"
            if broken
            else f"{name!r} is a {kind.label} from {dist}, which is not installed:"
            f" {install_hint(dist)}"
        )
    installed = {n for kind in kinds for n in offers[kind.name]}
    candidates = sorted((installed | set(elsewhere)) - {name})
    close = [
        f"{c!r} (pip install {elsewhere[c][1]})" if c not in installed else repr(c)
        for c in difflib.get_close_matches(name, candidates, n=3)
    ]
    if close:
        lines.append(f"Did you mean {' or '.join(close)}?")
    for kind in kinds:
        infos = [info for _, group in sorted(offers[kind.name].items()) for info in group]
        lines.append(f"Available {kind.label}s:" + ("" if infos else " none installed."))
        width = max((len(info.name) for info in infos), default=0)
        lines += [f"  {info.name:<{width}}  {info.origin}" for info in infos]
    return "\n".join(lines)


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


def with_base_options(cls: _Class) -> _Class:
    """Decorate a strategy class whose ``__init__`` declares only its own options and passes the
    rest on to its base class's as ``**base``::

        @with_base_options
        class MyTransfer(Transfer):
            def __init__(self, *, url: str, region: str = "x", **base: Any) -> None:
                super().__init__(url=url, **base)

    The signature and annotations of ``cls.__init__`` become the base's options with its own (in
    place of any it redeclares), so the base options are written once, yet a misspelt option is
    still refused by name with the accepted ones listed, and a config file's values are checked
    against their annotations.
    """
    init = cls.__dict__["__init__"]
    # What super().__init__ reaches: the next __init__ along the class's own MRO.
    base_init = next(vars(k)["__init__"] for k in cls.__mro__[1:] if "__init__" in vars(k))
    base = list(inspect.signature(base_init).parameters.values())
    everything = inspect.signature(init).parameters.values()
    own = [p for p in everything if p.kind is not p.VAR_KEYWORD]
    passed_on = [p.name for p in everything if p.kind is p.VAR_KEYWORD]
    by_name = {p.name: p for p in own}
    params = [by_name.pop(p.name, p) for p in base if p.kind is not p.VAR_KEYWORD]
    params += [p for p in own if p.name in by_name]
    try:
        # Evaluated here, in the base's module, where its annotations' names are defined.
        hints: dict[str, Any] = typing.get_type_hints(base_init)
    except Exception:
        hints = dict(getattr(base_init, "__annotations__", {}))  # unreadable there too
    hints.update(init.__annotations__)
    for name in passed_on:
        hints.pop(name, None)
    init.__signature__ = inspect.Signature(params)
    init.__annotations__ = hints
    return cls
