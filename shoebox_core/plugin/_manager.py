"""The plugin manager: finds installed plugins, gathers their strategies and builds them by name.

The manager is built on first use (:func:`get_plugin_manager`). It registers the core's own
plugin, :mod:`shoebox_core.plugin._builtins` (attributed to ``shoebox-core``), then the plugin of
every entry point of the ``shoebox`` group; one that fails to import is recorded in
:attr:`ShoeboxPluginManager.failures`, logged and skipped. Build a strategy by its configured name
(or by import path)::

    from shoebox_core import plugin as plugins

    checker = plugins.create_roll_checker("size", roll_size_mb="64")
    mine = plugins.create_roll_checker("my_package.checkers:LineRollChecker", lines=1000)

The ``create_*`` methods (and :meth:`ShoeboxPluginManager.resolve`, which the config loader uses)
are the only way the rest of shoebox reaches the hooks; what each kind is comes from
:mod:`shoebox_core.plugin._kinds`.
"""

from __future__ import annotations

import difflib
import logging
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pluggy

from ..errors import PluginError
from ._kinds import (
    CALLBACK,
    KINDS,
    NAMER,
    ROLL_CHECKER,
    STRATEGY_KINDS,
    SUBCOMMAND,
    TRANSFER,
    KindSpec,
    Namer,
    kind_named,
)
from ._spec import PROJECT, ShoeboxSpec, Subcommand
from ._strategies import Conflict, PluginFailure, StrategyInfo, build, import_factory, unknown_name

if TYPE_CHECKING:
    from ..ship.callbacks import ArchiveCallback
    from ..ship.transfer import Transfer
    from ..write.checkers import RollChecker

if sys.version_info >= (3, 10):
    import importlib.metadata as _metadata
else:
    import importlib_metadata as _metadata

__all__ = [
    "Conflict", "PluginFailure", "ShoeboxPluginManager", "StrategyInfo", "create",
    "create_callback", "create_namer", "create_roll_checker", "create_transfer",
    "fresh_plugin_manager", "get_plugin_manager",
]

log = logging.getLogger("shoebox")

_CORE_DISTRIBUTION = "shoebox-core"
_T = TypeVar("_T")


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
    offers: dict[str, dict[str, list[StrategyInfo]]]  # kind -> name -> offers of that name
    failures: list[PluginFailure]


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
                hooks = [kind.hook for kind in KINDS]
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
            Conflict(kind.name, name, tuple(infos))
            for kind in KINDS
            for name, infos in sorted(self._gather().offers[kind.name].items())
            if len(infos) > 1
        ]

    def subcommands(self, reserved: Iterable[str] = ()) -> list[tuple[Subcommand, StrategyInfo]]:
        """The subcommands plugins add, sorted by name, each with where it came from.

        A name offered twice, or one of ``reserved`` (the built-in commands), is left out and
        recorded in :attr:`failures` (the clash with a built-in) or :attr:`conflicts`.
        """
        taken = set(reserved)
        found = []
        for name, infos in sorted(self._gather().offers[SUBCOMMAND.name].items()):
            if len(infos) > 1:
                continue
            (info,) = infos
            if name in taken:
                error = ValueError(f"subcommand {name!r} is a built-in command of shoebox")
                failure = PluginFailure(info.distribution, info.distribution, info.version,
                                        error, SUBCOMMAND.hook)
                if not any(str(f) == str(failure) for f in self._load_failures):
                    self._fail(failure, self._load_failures)
                continue
            found.append((info.offer, info))
        return found

    def strategies(self, kind: str | None = None) -> list[StrategyInfo]:
        """Every strategy offered (of one ``kind``, or of all), sorted by kind then name."""
        kinds = STRATEGY_KINDS if kind is None else (kind_named(kind, strategies_only=True),)
        offers = self._gather().offers
        return [
            info
            for k in kinds
            for _, infos in sorted(offers[k.name].items())
            for info in infos
        ]

    def _gather(self) -> _Catalog:
        with self._lock:
            key = tuple((name, id(plugin)) for name, plugin in self.list_name_plugin())
            if self._catalog is None or self._catalog.key != key:
                self._catalog = self._collect(key)
            return self._catalog

    def _collect(self, key: tuple[tuple[str, int], ...]) -> _Catalog:
        catalog = _Catalog(key, {kind.name: {} for kind in KINDS}, [])
        for kind in KINDS:
            impls = getattr(self.hook, kind.hook).get_hookimpls()
            plugins = list({id(impl.plugin): impl.plugin for impl in impls}.values())
            # One plugin at a time, through pluggy so that hook-call monitoring sees each call,
            # to attribute every offer to the distribution that made it.
            for plugin in plugins:
                plugin_name = self.get_name(plugin) or _plugin_label(plugin)
                distribution, version = self._origins.get(plugin_name, (plugin_name, None))
                try:
                    others = [other for other in plugins if other is not plugin]
                    results = self.subset_hook_caller(kind.hook, remove_plugins=others)()
                    offered = [offer for result in results for offer in result or ()]
                    wrong = [offer for offer in offered if not isinstance(offer, kind.offer)]
                    if wrong:
                        raise TypeError(
                            f"{kind.hook}() yielded {wrong[0]!r}, not a {kind.offer.__name__}"
                        )
                except Exception as exc:
                    failure = PluginFailure(plugin_name, distribution, version, exc, kind.hook)
                    self._fail(failure, catalog.failures)
                    continue
                for offer in offered:
                    factory = offer.action if isinstance(offer, Subcommand) else offer.factory
                    info = StrategyInfo(offer.name, kind.name, factory, offer.summary,
                                        distribution, version, offer)
                    catalog.offers[kind.name].setdefault(offer.name, []).append(info)
        return catalog

    # -- resolving and building ------------------------------------------------------------------
    def resolve(
        self, name: str, kinds: Iterable[str] | None = None, *, for_config: bool = False
    ) -> StrategyInfo:
        """The one strategy called ``name`` among ``kinds`` (kind names; default: every kind).

        ``name`` may be an import path, ``"package.module:Attr"``: its callable, taken as the
        first of ``kinds``. Otherwise a :class:`PluginError` says why no single strategy fits: the
        name belongs to another kind (and where it goes: a ``create_*()`` method, or with
        ``for_config`` a config section), to several of ``kinds``, is offered twice, or is
        unknown (what to install, close matches, and every available name with its origin).
        """
        _check_name(name)
        specs = STRATEGY_KINDS if kinds is None else tuple(
            kind_named(kind, strategies_only=True) for kind in kinds
        )
        if ":" in name:
            factory = import_factory(name)
            return StrategyInfo(name, specs[0].name, factory, "", name.partition(":")[0], None)
        offers = self._gather().offers
        found = {kind: offers[kind.name][name] for kind in specs if name in offers[kind.name]}
        if not found:
            wanted = " or ".join(kind.label for kind in specs)
            for other in STRATEGY_KINDS:
                if other not in specs and name in offers[other.name]:
                    advice = f"list it under {other.home}" if for_config else f"use {other.method}"
                    raise PluginError(f"{name!r} is a {other.label}, not a {wanted}: {advice}")
            label = "strategy" if kinds is None else wanted
            raise PluginError(unknown_name(name, label, specs, offers, self.failures))
        if len(found) > 1:
            offered = "; ".join(
                f"a {kind.label} from {', '.join(i.origin for i in infos)}"
                for kind, infos in found.items()
            )
            advice = ('name the one you want by its import path, plugin = "package.module:Attr"'
                      if for_config else f"say which with {' or '.join(k.method for k in found)}")
            raise PluginError(f"{name!r} names {offered}: {advice}")
        ((kind, infos),) = found.items()
        if len(infos) > 1:
            raise PluginError(str(Conflict(kind.name, name, tuple(infos))))
        return infos[0]

    def create(self, name: str, /, **options: Any) -> Any:
        """Build the strategy called ``name`` (of whatever kind) with ``options``.

        ``name`` may be an import path, ``"package.module:Attr"``. A name offered in several kinds
        is refused: say which with a typed method (:meth:`create_roll_checker`...).
        """
        info = self.resolve(name)
        return self._build(info, "strategy" if ":" in name else kind_named(info.kind).label,
                           options)

    def create_roll_checker(self, name: str, /, **options: Any) -> RollChecker:
        """Build the roll checker called ``name`` (or at import path ``name``) with ``options``."""
        return self._create(ROLL_CHECKER, name, options)

    def create_namer(self, name: str, /, **options: Any) -> Namer:
        """Build the namer called ``name`` (or at import path ``name``) with ``options``."""
        return self._create(NAMER, name, options)

    def create_callback(self, name: str, /, **options: Any) -> ArchiveCallback:
        """Build the callback called ``name`` (or at import path ``name``) with ``options``."""
        return self._create(CALLBACK, name, options)

    def create_transfer(self, name: str, /, **options: Any) -> Transfer:
        """Build the transfer called ``name`` (or at import path ``name``) with ``options``."""
        return self._create(TRANSFER, name, options)

    def _create(self, kind: KindSpec[_T], name: str, options: dict[str, Any]) -> _T:
        # Typed for the kind's protocol; what a factory returns is the plugin's word for it.
        return cast(_T, self._build(self.resolve(name, [kind.name]), kind.label, options))

    @staticmethod
    def _build(info: StrategyInfo, label: str, options: dict[str, Any]) -> Any:
        origin = "" if ":" in info.name else f" ({info.origin})"
        return build(f"{label} {info.name!r}{origin}", info.factory, options)


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


def create_roll_checker(name: str, /, **options: Any) -> RollChecker:
    """:meth:`ShoeboxPluginManager.create_roll_checker` on the shared manager."""
    return get_plugin_manager().create_roll_checker(name, **options)


def create_namer(name: str, /, **options: Any) -> Namer:
    """:meth:`ShoeboxPluginManager.create_namer` on the shared manager."""
    return get_plugin_manager().create_namer(name, **options)


def create_callback(name: str, /, **options: Any) -> ArchiveCallback:
    """:meth:`ShoeboxPluginManager.create_callback` on the shared manager."""
    return get_plugin_manager().create_callback(name, **options)


def create_transfer(name: str, /, **options: Any) -> Transfer:
    """:meth:`ShoeboxPluginManager.create_transfer` on the shared manager."""
    return get_plugin_manager().create_transfer(name, **options)
