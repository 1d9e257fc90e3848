"""The plugin manager: discovery, attribution, conflicts, failures, building strategies by name."""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy
import pytest

from shoebox_core import plugin as plugins
from shoebox_core.clock import Clock
from shoebox_core.errors import ConfigError, PluginError
from shoebox_core.plugin import Strategy, Subcommand, _builtins, hookimpl
from shoebox_core.plugin._kinds import KINDS, STRATEGY_KINDS, kinds_for_section
from shoebox_core.plugin._spec import ShoeboxSpec
from shoebox_core.testing import RollCheckerContract
from shoebox_core.write.checkers import MB, CountRollChecker, NeverRollChecker, SizeRollChecker

pytest_plugins = ["shoebox_core.testing"]

# The hooks as pluggy sees them in the spec class: the meta-tests compare everything else to these.
_HOOKS = sorted(name for name in vars(ShoeboxSpec) if name.startswith("shoebox_"))


class LinesChecker:
    """A roll checker for the tests: rolls after ``lines`` records."""

    def __init__(self, *, lines: int | str, clock: object = None) -> None:
        if int(lines) < 1:
            raise ValueError("lines must be at least 1")
        self.lines = int(lines)


class AcmePlugin:
    """A plugin offering a roll checker and a callback."""

    @hookimpl
    def shoebox_roll_checkers(self) -> list[Strategy]:
        return [Strategy("lines", LinesChecker, "Roll after N records.")]

    @hookimpl
    def shoebox_callbacks(self) -> list[Strategy]:
        return [Strategy("chmod", dict, "Set the mode of sealed archives.")]


class RivalPlugin:
    """Offers a roll checker called ``size`` (as the core does) and a callback called ``count``."""

    @hookimpl
    def shoebox_roll_checkers(self) -> Any:
        yield Strategy("size", LinesChecker, "Another size.")

    @hookimpl
    def shoebox_callbacks(self) -> Any:
        yield Strategy("count", dict, "A callback named like a roll checker.")


def _manager(*registrations: tuple[object, str | None, str | None]) -> plugins.ShoeboxPluginManager:
    manager = plugins.fresh_plugin_manager(entry_points=False)
    for plugin, distribution, version in registrations:
        manager.register(plugin, distribution=distribution, version=version)
    return manager


def _origins(manager: plugins.ShoeboxPluginManager, kind: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for info in manager.strategies(kind):
        result.setdefault(info.name, []).append(info.origin)
    return result


BROKEN = "raise RuntimeError('boom at import')\n"
ACME = """
from shoebox_core.plugin import Strategy, hookimpl

@hookimpl
def shoebox_roll_checkers():
    return [Strategy("acme_lines", dict, "Acme lines.")]
"""


def _fake_distribution(site: Path, dist: str, version: str, module: str, source: str) -> None:
    """A real installed distribution (dist-info + module) under ``site``, with a shoebox entry
    point named after the module's last word."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[shoebox]\n{module.split('_')[-1]} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for fake distributions; modules imported from it are forgotten."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("shoebox_test_")]:
        del sys.modules[name]


# -- hooks and discovery ------------------------------------------------------------------------


def test_every_hook_is_documented_and_gathers_one_kind() -> None:
    assert sorted(k.hook for k in KINDS) == sorted(_HOOKS)
    assert [k.name for k in KINDS] == ["roll_checker", "namer", "callback", "transfer",
                                       "subcommand"]
    for hook in _HOOKS:
        doc = inspect.getdoc(getattr(ShoeboxSpec, hook)) or ""
        assert "not first-result" in doc and "Example::" in doc and "@hookimpl" in doc, hook
        opts = plugins.ShoeboxPluginManager().hook.__dict__[hook].spec.opts
        assert not opts["firstresult"]
    assert hookimpl.project_name == "shoebox"


def test_strategy_is_frozen_and_validated() -> None:
    strategy = Strategy("size", SizeRollChecker, "summary")
    with pytest.raises(AttributeError):
        strategy.name = "other"  # type: ignore[misc]
    for bad_name in ("", "a:b", "two words"):
        with pytest.raises(ValueError):
            Strategy(bad_name, SizeRollChecker, "summary")
    with pytest.raises(TypeError):
        Strategy("x", "not callable", "summary")  # type: ignore[arg-type]


def test_nothing_is_built_at_import_and_the_shared_manager_is_built_once() -> None:
    code = (
        "import sys, shoebox_core.plugin._manager as p\n"
        "assert p._shared is None and 'shoebox_core.plugin._builtins' not in sys.modules\n"
        "assert p.get_plugin_manager() is p.get_plugin_manager()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_builtins_are_a_plugin_attributed_to_shoebox_core() -> None:
    manager = plugins.fresh_plugin_manager(entry_points=False)
    assert manager.is_registered(_builtins)
    version = metadata.version("shoebox-core")
    names = {k.name: {i.name for i in manager.strategies(k.name)} for k in STRATEGY_KINDS}
    assert names == {
        "roll_checker": {"size", "count", "never"},
        "namer": {"template"},
        "callback": {"gzip", "zstd", "move", "change_extension", "delete"},
        "transfer": {"fsspec"},
    }
    for info in manager.strategies():
        assert (info.distribution, info.version) == ("shoebox-core", version)
        assert info.summary
        inspect.signature(info.factory)  # lazy built-ins resolve to an existing class


def test_strategies_are_attributed_to_the_distribution_that_offered_them() -> None:
    manager = _manager((AcmePlugin(), "acme-checkers", "1.2"))
    assert _origins(manager, "roll_checker")["lines"] == ["acme-checkers 1.2"]
    assert _origins(manager, "callback")["chmod"] == ["acme-checkers 1.2"]
    assert _origins(manager, "roll_checker")["size"][0].startswith("shoebox-core")
    assert [i.origin.split()[0] for i in manager.strategies("transfer")] == ["shoebox-core"]
    with pytest.raises(PluginError, match="the kinds are"):
        manager.strategies("compressor")


def test_a_plugin_registered_directly_is_attributed_to_its_class_or_module() -> None:
    manager = plugins.fresh_plugin_manager(entry_points=False, plugins=[AcmePlugin()])
    (info,) = [i for i in manager.strategies("roll_checker") if i.name == "lines"]
    assert (info.distribution, info.version) == ("AcmePlugin", None)


def test_registering_and_unregistering_updates_the_strategies() -> None:
    manager = _manager()
    assert "lines" not in _origins(manager, "roll_checker")
    plugin = AcmePlugin()
    manager.register(plugin, distribution="acme", version="1")
    assert "lines" in _origins(manager, "roll_checker")
    manager.unregister(plugin)
    assert "lines" not in _origins(manager, "roll_checker")


def test_hook_recorder_sees_each_plugin_asked_on_its_own(plugin_manager, hook_recorder) -> None:
    plugin_manager.register(AcmePlugin(), "acme", distribution="acme")
    plugin_manager.strategies()
    assert set(hook_recorder.hooks()) == {k.hook for k in STRATEGY_KINDS}  # none offers commands
    callers = [call.plugins for call in hook_recorder.calls_of("shoebox_roll_checkers")]
    assert sorted(callers) == [("acme",), ("shoebox_core.plugin._builtins",)]


def test_entry_points_are_discovered_and_a_broken_plugin_is_skipped(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_distribution(site, "broken-plugin", "1.0", "shoebox_test_broken", BROKEN)
    _fake_distribution(site, "acme-shoebox", "2.0", "shoebox_test_acme", ACME)
    with caplog.at_level(logging.WARNING, logger="shoebox"):
        manager = plugins.fresh_plugin_manager()
    (failure,) = [f for f in manager.failures if f.distribution == "broken-plugin"]
    assert (failure.plugin, failure.version, failure.hook) == ("broken", "1.0", None)
    assert isinstance(failure.error, RuntimeError)
    assert "broken-plugin 1.0" in caplog.text and "boom at import" in caplog.text
    assert _origins(manager, "roll_checker")["acme_lines"] == ["acme-shoebox 2.0"]
    assert manager.create("count", roll_records=3).roll_records == 3


def test_load_entry_points_isolates_every_kind_of_import_failure(site: Path) -> None:
    (site / "shoebox_test_exits.py").write_text("import sys\nsys.exit(3)\n")
    (site / "shoebox_test_raises.py").write_text("1 / 0\n")
    entry_points = [
        metadata.EntryPoint(name="exits", value="shoebox_test_exits", group="shoebox"),
        metadata.EntryPoint(name="raises", value="shoebox_test_raises", group="shoebox"),
        metadata.EntryPoint(name="missing", value="shoebox_test_no_such_module", group="shoebox"),
        metadata.EntryPoint(name="noattr", value="shoebox_core.plugin._spec:nothing",
                            group="shoebox"),
    ]
    manager = _manager()
    assert manager.load_entry_points(entry_points) == 0
    errors = {f.plugin: type(f.error).__name__ for f in manager.failures}
    assert errors == dict(
        exits="SystemExit",
        raises="ZeroDivisionError",
        missing="ModuleNotFoundError",
        noattr="AttributeError",
    )
    assert {f.distribution for f in manager.failures} == {"an unknown distribution"}
    assert manager.create("never").__class__ is NeverRollChecker


def test_a_hook_that_raises_or_yields_junk_is_recorded_and_skipped() -> None:
    class Raises:
        @hookimpl
        def shoebox_callbacks(self) -> Any:
            raise OSError("disk on fire")

    class Junk:
        @hookimpl
        def shoebox_namers(self) -> Any:
            return ["not a strategy"]

    manager = _manager((Raises(), "raises", "1"), (Junk(), "junk", "2"), (AcmePlugin(), "a", "3"))
    failures = {f.distribution: (f.hook, type(f.error)) for f in manager.failures}
    assert failures == {
        "raises": ("shoebox_callbacks", OSError),
        "junk": ("shoebox_namers", TypeError),
    }
    assert "chmod" in _origins(manager, "callback") and "gzip" in _origins(manager, "callback")


def test_a_misspelt_hook_is_refused_naming_the_right_one() -> None:
    class Typo:
        @hookimpl
        def shoebox_roll_checker(self) -> list[Strategy]:
            return []

    manager = _manager()
    with pytest.raises(pluggy.PluginValidationError, match="did you mean shoebox_roll_checkers"):
        manager.register(Typo())
    assert manager.get_plugins() == {_builtins}


# -- conflicts ----------------------------------------------------------------------------------


def test_one_name_from_two_distributions_is_a_conflict_naming_both() -> None:
    manager = _manager((RivalPlugin(), "rival-dist", "0.3"), (AcmePlugin(), "acme", "1"))
    (conflict,) = manager.conflicts
    assert (conflict.kind, conflict.name) == ("roll_checker", "size")
    assert {i.distribution for i in conflict.offers} == {"shoebox-core", "rival-dist"}
    with pytest.raises(PluginError) as caught:
        manager.create_roll_checker("size", roll_size_mb=1)
    assert "shoebox-core" in str(caught.value) and "rival-dist 0.3" in str(caught.value)
    assert "shoebox_core.write.checkers:SizeRollChecker" in str(caught.value)
    # Other names keep working, and the import path picks one side of the conflict.
    assert manager.create("lines", lines=2).lines == 2
    checker = manager.create("shoebox_core.write.checkers:SizeRollChecker", roll_size_mb=1)
    assert checker.roll_bytes == MB


def test_one_name_offered_twice_by_one_distribution_is_a_conflict() -> None:
    class Twice:
        @hookimpl
        def shoebox_transfers(self) -> list[Strategy]:
            return [Strategy("ftp", dict, "one"), Strategy("ftp", dict, "two")]

    manager = _manager((Twice(), "twice", "1"))
    assert [(c.kind, c.name, len(c.offers)) for c in manager.conflicts] == [("transfer", "ftp", 2)]
    with pytest.raises(PluginError, match="more than one plugin"):
        manager.create_transfer("ftp")


def test_untyped_create_refuses_a_name_of_two_kinds() -> None:
    manager = _manager((RivalPlugin(), "rival", None))
    with pytest.raises(PluginError, match=r"create_roll_checker\(\) or create_callback\(\)"):
        manager.create("count", roll_records=1)
    assert manager.create_roll_checker("count", roll_records=1).roll_records == 1
    assert manager.create_callback("count") == {}


# -- unknown names ------------------------------------------------------------------------------


def test_an_unknown_name_lists_every_available_name_of_its_kind_and_a_close_match() -> None:
    manager = _manager((AcmePlugin(), "acme-checkers", "1.2"))
    with pytest.raises(PluginError) as caught:
        manager.create_roll_checker("lnes")
    message = str(caught.value)
    assert "unknown roll checker 'lnes'" in message and "Did you mean 'lines'?" in message
    for name in ("size", "count", "never"):
        assert any(
            line.split() == [name, "shoebox-core", metadata.version("shoebox-core")]
            for line in message.splitlines()
        ), name
    assert any(line.split() == ["lines", "acme-checkers", "1.2"] for line in message.splitlines())
    assert "gzip" not in message  # another kind
    with pytest.raises(PluginError, match=r"'size' is a roll checker, not a callback"):
        manager.create_callback("size")


@pytest.mark.parametrize(
    "name, kind, dist",
    [
        ("time", "roll_checker", "shoebox-timecheck"),
        ("aligned", "roll_checker", "shoebox-timecheck"),
        ("idle", "roll_checker", "shoebox-timecheck"),
        ("s3", "transfer", "shoebox-s3"),
        ("swift", "transfer", "shoebox-swift"),
    ],
)
def test_a_name_from_a_known_plugin_that_is_not_installed_says_what_to_install(
    name: str, kind: str, dist: str
) -> None:
    manager = _manager()
    for create in (manager.create, getattr(manager, f"create_{kind}")):
        with pytest.raises(PluginError, match=f"pip install {dist}"):
            create(name)
    with pytest.raises(PluginError, match=f"pip install {dist}"):
        manager.create(name + "x")  # a typo of it
    with pytest.raises(PluginError) as caught:
        manager.create_namer(name)
    assert "pip install" not in str(caught.value)


def test_a_known_plugin_that_is_installed_but_broken_is_reported_as_such(site: Path) -> None:
    source = "raise ImportError('needs a newer shoebox-core')\n"
    _fake_distribution(site, "shoebox-timecheck", "0.1.0", "shoebox_test_timecheck", source)
    manager = plugins.fresh_plugin_manager()
    with pytest.raises(PluginError, match="installed but was skipped.*needs a newer"):
        manager.create_roll_checker("time", roll_minutes=1)


# -- building -----------------------------------------------------------------------------------


def test_create_searches_every_kind_and_coerces_numeric_strings() -> None:
    manager = _manager()
    assert manager.create("size", roll_size_mb="100").roll_bytes == 100 * MB
    assert manager.create("count", roll_records="7").roll_records == 7
    assert type(manager.create("gzip")).__name__ == "GzipCallback"
    assert type(manager.create_namer("template", template="x-%Y")).__name__ == "TemplateNamer"


def test_path_style_names_import_and_call_the_attribute(site: Path) -> None:
    (site / "shoebox_test_bad_import.py").write_text("raise RuntimeError('broken module')\n")
    (site / "shoebox_test_factories.py").write_text(
        "class Checkers:\n    @staticmethod\n    def lines(*, lines):\n        return int(lines)\n"
    )
    manager = _manager()
    checker = manager.create("shoebox_core.write.checkers:CountRollChecker", roll_records="5")
    assert isinstance(checker, CountRollChecker) and checker.roll_records == 5
    assert manager.create_roll_checker("shoebox_test_factories:Checkers.lines", lines="3") == 3
    with pytest.raises(PluginError, match="accepted options: lines"):
        manager.create_roll_checker("shoebox_test_factories:Checkers.lines", line=3)
    cases = {
        "shoebox_test_nowhere:Thing": "cannot import 'shoebox_test_nowhere'",
        "shoebox_test_bad_import:Thing": "RuntimeError: broken module",
        "shoebox_core.write.checkers:Nope": "has no 'Nope'",
        "shoebox_core.plugin._kinds:KINDS": "is not callable",
        "not a path:x": "not an import path",
    }
    with pytest.raises(PluginError, match="must be a non-empty string, got 5"):
        manager.create_roll_checker(5)  # type: ignore[arg-type]
    for path, message in cases.items():
        with pytest.raises(PluginError, match=message):
            manager.create(path)
    with pytest.raises(PluginError) as caught:
        manager.create("shoebox_test_nowhere:Thing")
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_an_unknown_or_missing_option_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(PluginError) as caught:
        _manager().create("size", roll_size_gb=1)
    message = str(caught.value)
    assert "roll checker 'size' (shoebox-core" in message and "'roll_size_gb'" in message
    assert "did you mean 'roll_size_mb'" in message
    assert "accepted options: roll_size_mb, roll_size_bytes, clock" in message
    with pytest.raises(PluginError, match="needs option 'roll_records'; accepted options"):
        _manager().create("count")


def test_options_of_lazily_imported_builtins_are_checked_against_the_real_class() -> None:
    with pytest.raises(PluginError, match="accepted options: level, keep_original"):
        _manager().create_callback("gzip", levle=3)
    with pytest.raises(PluginError, match="needs option 'directory'"):
        _manager().create_callback("move")


def test_a_lazy_factory_that_cannot_be_imported_is_a_plugin_error() -> None:
    class Lazy:
        @hookimpl
        def shoebox_callbacks(self) -> list[Strategy]:
            lazy = _builtins._Lazy("shoebox_test_gone:Callback")
            return [Strategy("gone", lazy, "Never importable.")]

    with pytest.raises(PluginError, match="'gone' .* cannot be loaded: ModuleNotFoundError"):
        _manager((Lazy(), "lazy", "1")).create_callback("gone")


def test_option_errors_raised_by_the_factory_are_plugin_errors_chained_to_the_original() -> None:
    manager = _manager((AcmePlugin(), "acme", "1"))
    cases = [
        (lambda: manager.create("size", roll_size_mb="lots"), ConfigError),
        (lambda: manager.create("size", roll_size_mb=1, roll_size_bytes=2), TypeError),
        (lambda: manager.create("lines", lines=0), ValueError),
    ]
    for create, original in cases:
        with pytest.raises(PluginError) as caught:
            create()
        assert str(caught.value).startswith(("roll checker 'size'", "roll checker 'lines'"))
        assert type(caught.value.__cause__) is original


def test_module_functions_use_the_shared_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoebox_core.plugin import _manager as manager_module

    monkeypatch.setattr(manager_module, "_shared", _manager((AcmePlugin(), "acme", "1")))
    assert plugins.get_plugin_manager() is manager_module._shared
    assert plugins.create("lines", lines="4").lines == 4
    assert plugins.create_roll_checker("lines", lines=4).lines == 4
    assert plugins.create_callback("chmod") == {}
    assert type(plugins.create_namer("template", template="a")).__name__ == "TemplateNamer"
    with pytest.raises(PluginError, match="pip install shoebox-s3"):
        plugins.create_transfer("s3")


# -- the built-in roll checkers honour the contract plugin authors use -------------------------


class TestSizeRollCheckerContract(RollCheckerContract):
    numeric_options = {"roll_size_mb": 2}
    strategy_name = "size"

    def make_checker(self, clock: Clock) -> SizeRollChecker:
        return SizeRollChecker(roll_size_mb=2, clock=clock)


class TestCountRollCheckerContract(RollCheckerContract):
    numeric_options = {"roll_records": 10}
    strategy_name = "count"

    def make_checker(self, clock: Clock) -> CountRollChecker:
        return CountRollChecker(roll_records=10, clock=clock)


class TestNeverRollCheckerContract(RollCheckerContract):
    strategy_name = "never"

    def make_checker(self, clock: Clock) -> NeverRollChecker:
        return NeverRollChecker(clock=clock)


# -- one test per hook (the meta-test below fails when a hook has none) -------------------------


class EveryHookPlugin(AcmePlugin):
    """Offers one strategy of every kind (a roll checker and a callback as Acme does), and a
    subcommand."""

    @hookimpl
    def shoebox_namers(self) -> list[Strategy]:
        return [Strategy("fixed", lambda *, prefix: _FixedNamer(prefix), "Names from a prefix.")]

    @hookimpl
    def shoebox_transfers(self) -> list[Strategy]:
        return [Strategy("ftp", dict, "Upload by FTP.")]

    @hookimpl
    def shoebox_subcommands(self) -> list[Subcommand]:
        return [Subcommand("tidy", "Tidy up.", lambda args: 0)]


class _FixedNamer:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def name(self, *, when: float, seq: int) -> str:
        return f"{self.prefix}{seq}.events"


def _every_hook() -> plugins.ShoeboxPluginManager:
    return _manager((EveryHookPlugin(), "every-hook", "1.0"))


def test_hook_shoebox_roll_checkers() -> None:
    manager = _every_hook()
    assert manager.create_roll_checker("lines", lines="3").lines == 3
    assert _origins(manager, "roll_checker")["lines"] == ["every-hook 1.0"]
    assert manager.resolve("lines", ["roll_checker"]).summary == "Roll after N records."


def test_hook_shoebox_namers() -> None:
    namer = _every_hook().create_namer("fixed", prefix="p-")
    assert namer.name(when=0.0, seq=4) == "p-4.events"
    with pytest.raises(PluginError, match="'fixed' is a namer, not a roll checker"):
        _every_hook().create_roll_checker("fixed")


def test_hook_shoebox_callbacks() -> None:
    manager = _every_hook()
    assert manager.create_callback("chmod", mode="600") == {"mode": "600"}
    assert [k.name for k in kinds_for_section("on_open")] == ["callback"]
    with pytest.raises(PluginError, match=r"list it under \[\[on_close\]\]"):
        manager.resolve("ftp", ["callback"], for_config=True)


def test_hook_shoebox_transfers() -> None:
    manager = _every_hook()
    assert manager.create_transfer("ftp", host="h") == {"host": "h"}
    assert manager.resolve("ftp", [k.name for k in kinds_for_section("on_close")]).kind == \
        "transfer"


def test_hook_shoebox_subcommands() -> None:
    manager = _every_hook()
    ((subcommand, info),) = manager.subcommands(reserved=["write"])
    assert (subcommand.name, info.kind, info.origin) == ("tidy", "subcommand", "every-hook 1.0")
    assert manager.strategies() and "tidy" not in {i.name for i in manager.strategies()}
    with pytest.raises(PluginError, match="unknown strategy 'tidy'"):
        manager.create("tidy")  # a subcommand is not a strategy


# -- meta-tests: the spec, the table of kinds, the docs and the tests agree ---------------------


def _repository() -> Path:
    here = Path(__file__).resolve()
    return next(p for p in here.parents if (p / "pyproject.toml").is_file())


def test_every_hook_has_a_section_in_the_plugin_guide() -> None:
    guide = (_repository() / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (shoebox_\w+)\s*$", guide, flags=re.MULTILINE))
    assert headings == set(_HOOKS), "docs/writing-plugins.md: one '### hook' section per hook"


def test_every_hook_has_a_test() -> None:
    tests = _repository() / "tests"
    names = {
        match
        for path in tests.rglob("test_*.py")
        for match in re.findall(r"^def (test_hook_shoebox_\w+)\(", path.read_text("utf-8"),
                                flags=re.MULTILINE)
    }
    assert {f"test_hook_{hook}" for hook in _HOOKS} <= names, "write test_hook_<hook> for it"


def test_the_kinds_table_matches_the_manager_the_config_and_the_cli() -> None:
    from shoebox_core.cli.main import build_parser
    from shoebox_core.config._load import SECTIONS

    for kind in KINDS:
        module, _, attr = kind.protocol.partition(":")
        assert isinstance(getattr(importlib.import_module(module), attr), type), kind.name
        for section in kind.sections:
            assert section in SECTIONS, (kind.name, section)
    for kind in STRATEGY_KINDS:
        # create_<kind>() is typed with the kind's protocol, for type checkers.
        method = getattr(plugins.ShoeboxPluginManager, f"create_{kind.name}")
        assert method.__annotations__["return"] == kind.protocol.partition(":")[2], kind.name
        assert getattr(plugins, f"create_{kind.name}").__annotations__["return"] == \
            kind.protocol.partition(":")[2]
        assert kind.example in {i.name for i in _manager().strategies(kind.name)}, kind.name
    (plugins_command,) = [
        action.choices["plugins"] for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    (kind_option,) = [a for a in plugins_command._actions if a.dest == "kind"]
    assert list(kind_option.choices) == [kind.name for kind in KINDS]
    with pytest.raises(PluginError, match="the kinds are roll_checker, namer, callback, transfer$"):
        _manager().strategies("subcommand")
