"""The plugin manager: finds installed plugins, gathers their strategies and builds them by name.

The manager is built on first use (:func:`get_plugin_manager`). It registers the core's own plugin,
:mod:`shoebox_core.plugin._builtins` (attributed to ``shoebox-core``), then the plugin of every entry
point of the ``shoebox`` group; one that fails to import is recorded in
:attr:`ShoeboxPluginManager.failures`, logged and skipped. Build a strategy by its configured name
(or by import path)::

    from shoebox_core import plugin as plugins

    checker = plugins.create_roll_checker("size", roll_size_mb="64")
    mine = plugins.create_roll_checker("my_package.checkers:LineRollChecker", lines=1000)

The ``create_*`` methods are the only way the rest of shoebox reaches the hooks.
"""

from __future__ import annotations

import difflib
import logging
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from ..errors import PluginError
from ..plugin._spec import (
    HOOK_BY_KIND,
    KINDS,
    PROJECT,
    SUBCOMMAND_HOOK,
    ShoeboxSpec,
    Strategy,
    Subcommand,
)
from ..plugin._strategies import (
    LABELS,
    Conflict,
    PluginFailure,
    StrategyInfo,
    build,
    import_factory,
)

if sys.version_info >= (3, 10):
    import importlib.metadata as _metadata
else:
    import importlib_metadata as _metadata

__all__ = [
    "Conflict",
    "PluginFailure",
    "ShoeboxPluginManager",
    "StrategyInfo",
    "create",
    "create_callback",
    "create_namer",
    "create_roll_checker",
    "create_transfer",
    "fresh_plugin_manager",
    "get_plugin_manager",
]

log = logging.getLogger("shoebox")

_CORE_DISTRIBUTION = "shoebox-core"
# Names users will expect, from distributions we know: an unknown-name error says what to install.
_NOT_INSTALLED = {
    "time": ("roll_checker", "shoebox-timecheck"),
    "aligned": ("roll_checker", "shoebox-timecheck"),
    "idle": ("roll_checker", "shoebox-timecheck"),
    "s3": ("transfer", "shoebox-s3"),
    "swift": ("transfer", "shoebox-swift"),
}


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise PluginError(f"a strategy name must be a non-empty string, got {name!r}")


def _plugin_label(plugin: object) -> str:
    if isinstance(plugin, (ModuleType, type)):
        return plugin.__name__
    return type(plugin).__qualname__


@dataclass
class _Catalog:
    key: tuple[tuple[str, int], ...]
    offers: dict[str, dict[str, list[StrategyInfo]]]
    failures: list[PluginFailure]
    subcommands: dict[str, list[tuple[Subcommand, StrategyInfo]]]


class ShoeboxPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` for the ``shoebox`` hooks that knows which distribution
    each plugin came from and builds strategies by name.

    Use :func:`get_plugin_manager` (shared, built once) or :func:`fresh_plugin_manager` (tests).
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(ShoeboxSpec)
        self._lock = threading.RLock()
        self._origins: dict[str, tuple[str, str | None]] = {}
        self._load_failures: list[PluginFailure] = []
        self._catalog: _Catalog | None = None

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> str | None:
        """Register ``plugin`` and return its name, as pluggy does, noting the ``distribution``
        and ``version`` its strategies are attributed to (default: its module or class name).

        A ``shoebox_*`` function matching no hook (a typo) is refused with
        :class:`pluggy.PluginValidationError` instead of being silently ignored.
        """
        with self._lock:
            plugin_name = super().register(plugin, name)
            if plugin_name is None:
                return None
            self._origins[plugin_name] = (distribution or _plugin_label(plugin), version)
            unknown = [
                caller.name
                for caller in self.get_hookcallers(plugin) or ()
                if not caller.has_spec()
                and caller.name.startswith(f"{PROJECT}_")
                and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
            ]
            if unknown:
                self.unregister(plugin)
                hooks = [*HOOK_BY_KIND.values(), SUBCOMMAND_HOOK]
                close = difflib.get_close_matches(unknown[0], hooks, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise pluggy.PluginValidationError(
                    plugin, f"plugin {plugin_name!r} implements unknown hook {unknown[0]}{hint}"
                )
            return plugin_name

    def load_entry_points(self, entry_points: Iterable[_metadata.EntryPoint] | None = None) -> int:
        """Register the plugin of every entry point of the ``shoebox`` group (or of the given
        ``entry_points``); return how many were registered.

        A plugin that raises while imported or registered is recorded in :attr:`failures`, logged
        as a warning on the ``shoebox`` logger and skipped.
        """
        if entry_points is None:
            entry_points = _metadata.entry_points(group=PROJECT)
        count = 0
        for entry_point in entry_points:
            dist = getattr(entry_point, "dist", None)
            distribution = dist.name if dist is not None else "an unknown distribution"
            version = dist.version if dist is not None else None
            if self.is_blocked(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
                if self.is_registered(plugin):
                    continue
                name = entry_point.name
                if self.has_plugin(name):
                    name = f"{distribution}:{name}"
                self.register(plugin, name, distribution=distribution, version=version)
            except (Exception, SystemExit) as exc:  # a plugin must never stop the host
                failure = PluginFailure(entry_point.name, distribution, version, exc)
                self._fail(failure, self._load_failures)
                continue
            count += 1
        return count

    @staticmethod
    def _fail(failure: PluginFailure, into: list[PluginFailure]) -> None:
        into.append(failure)
        log.warning("shoebox skipped a plugin: %s", failure)
        log.debug("traceback of the skipped plugin", exc_info=failure.error)

    @property
    def failures(self) -> list[PluginFailure]:
        """Plugins skipped because they failed to import or register, or a hook of theirs raised."""
        return [*self._load_failures, *self._gather().failures]

    @property
    def conflicts(self) -> list[Conflict]:
        """Names offered more than once within one kind (by two distributions, or twice)."""
        return [
            Conflict(kind, name, tuple(infos))
            for kind, by_name in self._gather().offers.items()
            for name, infos in sorted(by_name.items())
            if len(infos) > 1
        ] + [
            Conflict("subcommand", name, tuple(info for _, info in offers))
            for name, offers in sorted(self._gather().subcommands.items())
            if len(offers) > 1
        ]

    def subcommands(self, reserved: Iterable[str] = ()) -> list[tuple[Subcommand, StrategyInfo]]:
        """The subcommands plugins add, sorted by name, each with where it came from.

        A name offered twice, or one of ``reserved`` (the built-in commands), is left out and
        recorded in :attr:`failures` (the clash with a built-in) or :attr:`conflicts`.
        """
        taken = set(reserved)
        found = []
        for name, offers in sorted(self._gather().subcommands.items()):
            if len(offers) > 1:
                continue
            subcommand, info = offers[0]
            if name in taken:
                error = ValueError(f"subcommand {name!r} is a built-in command of shoebox")
                failure = PluginFailure(info.distribution, info.distribution, info.version,
                                        error, SUBCOMMAND_HOOK)
                if not any(str(f) == str(failure) for f in self._load_failures):
                    self._fail(failure, self._load_failures)
                continue
            found.append((subcommand, info))
        return found

    def strategies(self, kind: str | None = None) -> list[StrategyInfo]:
        """Every strategy offered (of one ``kind``, or of all), sorted by kind then name."""
        if kind is not None and kind not in KINDS:
            raise PluginError(f"unknown strategy kind {kind!r}; the kinds are {', '.join(KINDS)}")
        offers = self._gather().offers
        return [
            info
            for k in ([kind] if kind is not None else KINDS)
            for _, infos in sorted(offers[k].items())
            for info in infos
        ]

    def _gather(self) -> _Catalog:
        with self._lock:
            key = tuple((name, id(plugin)) for name, plugin in self.list_name_plugin())
            if self._catalog is None or self._catalog.key != key:
                self._catalog = self._collect(key)
            return self._catalog

    def _collect(self, key: tuple[tuple[str, int], ...]) -> _Catalog:
        catalog = _Catalog(key, {kind: {} for kind in KINDS}, [], {})
        for kind, hook_name in [*HOOK_BY_KIND.items(), ("subcommand", SUBCOMMAND_HOOK)]:
            impls = getattr(self.hook, hook_name).get_hookimpls()
            plugins = list({id(impl.plugin): impl.plugin for impl in impls}.values())
            # One plugin at a time, through pluggy so that hook-call monitoring sees each call,
            # to attribute every strategy to the distribution that offered it.
            for plugin in plugins:
                plugin_name = self.get_name(plugin) or _plugin_label(plugin)
                distribution, version = self._origins.get(plugin_name, (plugin_name, None))
                try:
                    others = [other for other in plugins if other is not plugin]
                    results = self.subset_hook_caller(hook_name, remove_plugins=others)()
                    offered = [strategy for result in results for strategy in result or ()]
                    want = Subcommand if kind == "subcommand" else Strategy
                    wrong = [s for s in offered if not isinstance(s, want)]
                    if wrong:
                        raise TypeError(
                            f"{hook_name}() yielded {wrong[0]!r}, not a {want.__name__}"
                        )
                except Exception as exc:
                    failure = PluginFailure(plugin_name, distribution, version, exc, hook_name)
                    self._fail(failure, catalog.failures)
                    continue
                for s in offered:
                    if isinstance(s, Subcommand):
                        info = StrategyInfo(s.name, kind, s.action, s.summary, distribution,
                                            version)
                        catalog.subcommands.setdefault(s.name, []).append((s, info))
                        continue
                    info = StrategyInfo(s.name, kind, s.factory, s.summary, distribution, version)
                    catalog.offers[kind].setdefault(s.name, []).append(info)
        return catalog

    def create(self, name: str, /, **options: Any) -> Any:
        """Build the strategy called ``name`` (of whatever kind) with ``options``.

        ``name`` may be an import path, ``"package.module:Attr"``. A name offered in several kinds
        is refused: say which with a typed method (:meth:`create_roll_checker`...).
        """
        _check_name(name)
        if ":" in name:
            return build(f"strategy {name!r}", import_factory(name), options)
        offers = self._gather().offers
        kinds = [kind for kind in KINDS if name in offers[kind]]
        if not kinds:
            raise PluginError(self._unknown(None, name))
        if len(kinds) > 1:
            where = " and ".join(
                f"a {LABELS[k]} ({', '.join(i.origin for i in offers[k][name])})" for k in kinds
            )
            methods = " or ".join(f"create_{k}()" for k in kinds)
            raise PluginError(f"{name!r} names {where}; say which with {methods}")
        return self._create(kinds[0], name, options)

    def create_roll_checker(self, name: str, /, **options: Any) -> Any:
        """Build the roll checker called ``name`` (or at import path ``name``) with ``options``."""
        return self._create("roll_checker", name, options)

    def create_namer(self, name: str, /, **options: Any) -> Any:
        """Build the namer called ``name`` (or at import path ``name``) with ``options``."""
        return self._create("namer", name, options)

    def create_callback(self, name: str, /, **options: Any) -> Any:
        """Build the callback called ``name`` (or at import path ``name``) with ``options``."""
        return self._create("callback", name, options)

    def create_transfer(self, name: str, /, **options: Any) -> Any:
        """Build the transfer called ``name`` (or at import path ``name``) with ``options``."""
        return self._create("transfer", name, options)

    def _create(self, kind: str, name: str, options: dict[str, Any]) -> Any:
        _check_name(name)
        if ":" in name:
            return build(f"{LABELS[kind]} {name!r}", import_factory(name), options)
        infos = self._gather().offers[kind].get(name)
        if not infos:
            raise PluginError(self._unknown(kind, name))
        if len(infos) > 1:
            raise PluginError(str(Conflict(kind, name, tuple(infos))))
        return build(f"{LABELS[kind]} {name!r} ({infos[0].origin})", infos[0].factory, options)

    def explain_unknown(self, name: str, kinds: Iterable[str]) -> str:
        """Why ``name`` names no strategy of ``kinds`` (several kinds can hold one config entry:
        an on-close step is a callback or a transfer): what to install if a known distribution
        offers it, close matches, and every available name of those kinds with its origin."""
        return self._unknown(tuple(kinds), name)

    def _unknown(self, kind: str | tuple[str, ...] | None, name: str) -> str:
        offers = self._gather().offers
        kinds = list(KINDS) if kind is None else [kind] if isinstance(kind, str) else list(kind)
        label = " or ".join(LABELS[k] for k in kinds) if kind is not None else "strategy"
        lines = [f"unknown {label} {name!r}."]
        lines += [
            f"{name!r} is a {LABELS[other]}, not a {label}: use create_{other}()."
            for other in KINDS
            if kind is not None and other not in kinds and name in offers[other]
        ]
        known_kind, dist = _NOT_INSTALLED.get(name, (None, ""))
        if known_kind in kinds:
            broken = [f for f in self.failures if f.distribution.lower().replace("_", "-") == dist]
            lines.append(
                f"{name!r} comes from {dist}, which is installed but was skipped: {broken[0]}"
                if broken
                else f"{name!r} is a {LABELS[known_kind]} from {dist}, which is not installed:"
                f" pip install {dist}"
            )
        installed = {n for k in kinds for n in offers[k]}
        candidates = installed | {n for n, (k, _) in _NOT_INSTALLED.items() if k in kinds}
        close = [
            f"{c!r} (pip install {_NOT_INSTALLED[c][1]})" if c not in installed else repr(c)
            for c in difflib.get_close_matches(name, sorted(candidates - {name}), n=3)
        ]
        if close:
            lines.append(f"Did you mean {' or '.join(close)}?")
        for k in kinds:
            infos = [info for _, group in sorted(offers[k].items()) for info in group]
            lines.append(f"Available {LABELS[k]}s:" + ("" if infos else " none installed."))
            width = max((len(info.name) for info in infos), default=0)
            lines += [f"  {info.name:<{width}}  {info.origin}" for info in infos]
        return "\n".join(lines)


_shared: ShoeboxPluginManager | None = None
_shared_lock = threading.Lock()


def fresh_plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[object] = ()
) -> ShoeboxPluginManager:
    """A new manager with the core's built-ins, the installed plugins (unless ``entry_points`` is
    false) and ``plugins`` (registered directly, attributed to their module or class name)."""
    from ..plugin import _builtins

    try:
        core_version: str | None = _metadata.version(_CORE_DISTRIBUTION)
    except _metadata.PackageNotFoundError:
        core_version = None  # a source tree that was never installed
    manager = ShoeboxPluginManager()
    manager.register(_builtins, distribution=_CORE_DISTRIBUTION, version=core_version)
    if entry_points:
        manager.load_entry_points()
    for plugin in plugins:
        manager.register(plugin)
    return manager


def get_plugin_manager() -> ShoeboxPluginManager:
    """The process-wide manager, built on the first call with every installed plugin."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = fresh_plugin_manager()
        return _shared


def create(name: str, /, **options: Any) -> Any:
    """:meth:`ShoeboxPluginManager.create` on the shared manager."""
    return get_plugin_manager().create(name, **options)


def create_roll_checker(name: str, /, **options: Any) -> Any:
    """:meth:`ShoeboxPluginManager.create_roll_checker` on the shared manager."""
    return get_plugin_manager().create_roll_checker(name, **options)


def create_namer(name: str, /, **options: Any) -> Any:
    """:meth:`ShoeboxPluginManager.create_namer` on the shared manager."""
    return get_plugin_manager().create_namer(name, **options)


def create_callback(name: str, /, **options: Any) -> Any:
    """:meth:`ShoeboxPluginManager.create_callback` on the shared manager."""
    return get_plugin_manager().create_callback(name, **options)


def create_transfer(name: str, /, **options: Any) -> Any:
    """:meth:`ShoeboxPluginManager.create_transfer` on the shared manager."""
    return get_plugin_manager().create_transfer(name, **options)
