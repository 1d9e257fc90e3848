"""Checking a pipeline config, section by section, before anything is built for real.

Every error is a :class:`~shoebox_core.errors.ConfigError` that starts with the source's name and
the key at fault, and has secrets blanked out (see :class:`~shoebox_core.config.schema.Redactor`).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import typing
from collections.abc import Mapping
from typing import Any, Callable

from ..config.pipeline import InputSettings, Pipeline, Step, glob_for_template, where_of
from ..config.schema import Redactor, check_value_type, looks_secret, substitute, toml_type
from ..config.schema import type_hints as _type_hints
from ..config.selectors import MISSING_POLICIES
from ..errors import ConfigError, PluginError
from ..plugin._kinds import kind_named, kinds_for_section
from ..plugin._manager import ShoeboxPluginManager
from ..plugin._strategies import StrategyInfo, check_options

__all__ = ["PROGRAM_ONLY", "SECTIONS", "Loader"]

#: The top-level keys of a config, in the order error messages list them (docs/config.md).
SECTIONS = ("directory", "template", "namer", "roll", "on_open", "on_close", "writer", "reader",
            "input")
_NOT_FROM_CONFIG = ("clock",)  # strategies take it from the program, never from a file
#: Writer and reader arguments a program passes (objects, functions), never a config file.
PROGRAM_ONLY = ("clock", "namer", "on_shipping_event", "follow", "poll_interval", "start_after")
_CHOICES = {"compression": ("none", "zstd"), "when_full": ("block", "raise")}
_AT_LEAST_ONE = ("block_records", "block_bytes", "max_record_bytes", "max_backlog")
_NON_NEGATIVE = ("flush_interval", "tick_interval")
_READER_EXTRA: dict[str, type] = {"directory": str, "pattern": str}
_INPUT: dict[str, type] = {"fields": list, "metadata": dict, "missing": str, "skip_invalid": bool}
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "an array", dict: "a table",
               float: "a number", int: "an integer"}


def _keyword_only(cls: type, exclude: tuple[str, ...] = ()) -> list[str]:
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in exclude]


def _as_configured(factory: Callable[..., Any]) -> Any:
    """A stand-in whose signature is ``factory``'s without the options a file cannot set, so
    that messages list only what a config may say."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError, ImportError):
        return factory  # check_options reports what it can
    params = [p for p in signature.parameters.values() if p.name not in _NOT_FROM_CONFIG]

    def stand_in(**options: Any) -> None:
        """Never called: only its signature is read."""

    stand_in.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return stand_in


def _secret_references(raw: str) -> bool:
    return any(looks_secret(name) for name in re.findall(r"\$\{([A-Za-z_]\w*)", raw))


class Loader:
    """One load: the source's name, the plugin manager, the environment and the secrets met."""

    def __init__(self, name: str, manager: ShoeboxPluginManager, environ: Mapping[str, str]):
        self.name = name
        self.manager = manager
        self.environ = environ
        self.redactor = Redactor()
        self.warnings: list[str] = []

    # -- helpers -----------------------------------------------------------------------------
    def error(self, where: str, message: str) -> ConfigError:
        """A ConfigError naming the source and ``where``, secrets blanked."""
        return ConfigError(self.redactor.redact(f"{self.name}: {where}: {message}"))

    def unknown_key(self, where: str, key: str, accepted: list[str]) -> ConfigError:
        close = difflib.get_close_matches(key, accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        place = f"{self.name}: {where}" if where else self.name
        return ConfigError(f"{place}: unknown key {key!r}{hint}; accepted: {', '.join(accepted)}")

    def value(self, where: str, key: str, raw: Any) -> Any:
        """``raw`` with its environment references resolved (errors name ``where``)."""
        return substitute(raw, lambda: f"{self.name}: {where}", self.environ, self.redactor,
                          secret=looks_secret(key))

    def shown(self, key: str, value: Any) -> str:
        """``value`` for an error message: blanked for a secret key."""
        return "***" if looks_secret(key) else self.redactor.redact(repr(value))

    def typed(self, where: str, key: str, value: Any, expected: type) -> Any:
        """``value``, checked to be of the TOML type ``expected`` stands for."""
        if expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif expected is bool:
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, expected) and not isinstance(value, bool)
        if not ok:
            raise self.error(where, f"must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
                             f"got {toml_type(value)} {self.shown(key, value)}")
        return value

    def display(self, key: str, raw: Any, value: Any) -> Any:
        """What to print for a value: a secret key blanked, and a value drawn from a secret
        environment variable shown as its ``${NAME}`` reference."""
        if looks_secret(key):
            return "***"
        if isinstance(value, Mapping) and isinstance(raw, Mapping):
            return {k: self.display(k, raw.get(k), v) for k, v in value.items()}
        if isinstance(value, list) and isinstance(raw, list):
            return [self.display(key, r, v) for r, v in zip(raw, value)]
        if isinstance(raw, str) and raw != value and _secret_references(raw):
            return raw
        return value

    def table(self, data: Mapping[str, Any], section: str) -> Mapping[str, Any]:
        raw = data.get(section, {})
        if not isinstance(raw, Mapping):
            raise self.error(section, f"must be a table ([{section}]), got {toml_type(raw)}")
        return raw

    # -- steps -------------------------------------------------------------------------------
    def steps(self, data: Mapping[str, Any], section: str) -> tuple[Step, ...]:
        """Every entry of an array-of-tables section, in order."""
        raw = data.get(section, [])
        if isinstance(raw, (str, Mapping)):
            raw = [raw]  # one [roll] table, or roll = "size"
        if not isinstance(raw, list):
            raise self.error(section, f"must be an array of tables ([[{section}]]), got "
                             f"{toml_type(raw)}")
        return tuple(self.step(section, i, entry) for i, entry in enumerate(raw, 1))

    def step(self, section: str, index: int, entry: Any) -> Step:
        """Check one entry (plugin, options, types) and build it once."""
        if isinstance(entry, str):
            entry = {"plugin": entry}
        where = where_of(section, index)
        if not isinstance(entry, Mapping):
            raise self.error(where, f"must be a table with a plugin key, got {toml_type(entry)}")
        if "plugin" not in entry:
            raise self.error(where, 'has no "plugin" key: say which plugin to use, e.g. '
                             f'plugin = "{kinds_for_section(section)[0].example}"')
        name = self.value(where, "plugin", entry["plugin"])
        if not isinstance(name, str) or not name.strip():
            raise self.error(where, f'"plugin" must be a plugin name, got {toml_type(name)}')
        where = where_of(section, index, name)
        options = {}
        for key, raw in entry.items():
            if key == "plugin":
                continue
            if key in _NOT_FROM_CONFIG:
                raise self.error(where, f"option {key!r} cannot be set in a config file")
            options[key] = self.value(f"{where}: option {key!r}", key, raw)
            if looks_secret(key) and isinstance(raw, str) and raw and "${" not in raw:
                self.warnings.append(
                    f"{self.name}: {where}: option {key!r} holds a literal value; keep secrets "
                    f'out of the file: {key} = "${{SOME_VARIABLE}}"'
                )
        info = self.resolve(section, where, name)
        kind, factory = info.kind, info.factory
        label = f"{self.name}: {where}"
        try:
            check_options(label, _as_configured(factory), options)
        except PluginError as exc:
            raise ConfigError(self.redactor.redact(str(exc))) from None
        hints = _type_hints(factory)
        for key, value in options.items():
            expected = check_value_type(hints[key], value) if key in hints else None
            if expected is not None:
                raise self.error(where, f"option {key!r} must be {expected}, got "
                                 f"{toml_type(value)} {self.shown(key, value)}")
        shown = {key: self.display(key, entry[key], value) for key, value in options.items()}
        step = Step(section, index, name, kind, info.origin, info.summary, options, shown, factory,
                    label)
        try:
            built = step.build()
        except (PluginError, ConfigError) as exc:
            raise ConfigError(self.redactor.redact(str(exc))) from None
        self.check_hooks(section, where, kind, built)
        return step

    def resolve(self, section: str, where: str, name: str) -> StrategyInfo:
        """The strategy ``name`` (or import path) among the kinds ``section`` may name, as the
        plugin manager resolves it; its refusal becomes a :class:`ConfigError` naming ``where``."""
        kinds = [kind.name for kind in kinds_for_section(section)]
        try:
            return self.manager.resolve(name, kinds, for_config=True)
        except PluginError as exc:
            raise self.error(where, str(exc)) from None

    def check_hooks(self, section: str, where: str, kind: str, built: Any) -> None:
        """Refuse a built strategy that lacks the method its section will call."""
        need = {"on_open": "on_open", "on_close": "on_close", "roll": "check"}.get(section)
        if need is not None and not callable(getattr(built, need, None)):
            built_as = f"the {kind_named(kind).label} built ({type(built).__qualname__})"
            raise self.error(where, f"{built_as} has no {need}() method, so it cannot serve under "
                             f"{where.split(' ')[0]}")

    # -- tables ------------------------------------------------------------------------------
    def settings(
        self, data: Mapping[str, Any], section: str, cls: type, extra: Mapping[str, type]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``[writer]`` or ``[reader]``: keyword-only options of ``cls`` plus ``extra`` keys.

        Returns the settings for ``cls``, the ``extra`` values and what to print for both.
        """
        params = _keyword_only(cls, exclude=PROGRAM_ONLY)
        hints = _type_hints(cls)
        settings: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        shown: dict[str, Any] = {}
        for key, raw in self.table(data, section).items():
            where = f"[{section}] {key}"
            if key not in params and key not in extra:
                raise self.unknown_key(f"[{section}]", key, sorted([*params, *extra]))
            value = self.value(where, key, raw)
            shown[key] = self.display(key, raw, value)
            if key in extra:
                extras[key] = self.typed(where, key, value, extra[key])
                continue
            expected = check_value_type(hints[key], value) if key in hints else None
            if expected is not None:
                raise self.error(where, f"must be {expected}, got {toml_type(value)} "
                                 f"{self.shown(key, value)}")
            if key in _CHOICES and value not in _CHOICES[key]:
                raise self.error(where, f"must be one of {', '.join(map(repr, _CHOICES[key]))}, "
                                 f"got {value!r}")
            if key in _AT_LEAST_ONE and isinstance(value, (int, float)) and value < 1:
                raise self.error(where, f"must be at least 1, got {value!r}")
            if key in _NON_NEGATIVE and isinstance(value, (int, float)) and value < 0:
                raise self.error(where, f"must not be negative, got {value!r}")
            if isinstance(value, Mapping) and key in hints:
                self.check_table(where, hints[key], value)
            settings[key] = value
        return settings, extras, shown

    def block_limits(self, writer: Mapping[str, Any], cls: type) -> None:
        """Refuse ``[writer]`` limits that could make a block no reader accepts."""
        from ..write.archive import check_block_limits

        defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
        keys = ("max_record_bytes", "block_bytes", "compression")
        try:
            check_block_limits(**{key: writer.get(key, defaults[key]) for key in keys})
        except ConfigError as exc:
            raise self.error("[writer] max_record_bytes", str(exc)) from None

    def check_table(self, where: str, hint: Any, value: Mapping[str, Any]) -> None:
        """A table given for a setting annotated with a dataclass (``[writer.retry]`` for a
        ``RetryPolicy``): its keys must be the dataclass's fields, and it must build."""
        classes = [c for c in typing.get_args(hint) or (hint,)
                   if isinstance(c, type) and dataclasses.is_dataclass(c)]
        if len(classes) != 1:
            return
        cls: Any = classes[0]
        fields = [f.name for f in dataclasses.fields(cls) if f.init]
        for key in value:
            if key not in fields:
                raise self.unknown_key(where, key, fields)
        try:
            cls(**value)
        except (ConfigError, TypeError, ValueError) as exc:
            raise self.error(where, str(exc)) from None

    def input(self, data: Mapping[str, Any]) -> InputSettings:
        """``[input]``: fields, metadata expressions, the missing policy, skip_invalid."""
        values: dict[str, Any] = {}
        for key, raw in self.table(data, "input").items():
            where = f"[input] {key}"
            if key not in _INPUT:
                raise self.unknown_key("[input]", key, list(_INPUT))
            values[key] = self.typed(where, key, self.value(where, key, raw), _INPUT[key])
        for i, item in enumerate(values.get("fields", ()), 1):
            if not isinstance(item, str):
                raise self.error(f"[input] fields #{i}", f"must be a string, got "
                                 f"{toml_type(item)}")
        for key, item in values.get("metadata", {}).items():
            if not isinstance(item, str):
                raise self.error(f"[input] metadata.{key}", "must be an expression (a string), "
                                 f"got {toml_type(item)}")
        missing = values.get("missing", "empty")
        if missing not in MISSING_POLICIES:
            raise self.error("[input] missing", "must be one of "
                             f"{', '.join(map(repr, MISSING_POLICIES))}, got {missing!r}")
        settings = InputSettings(tuple(values.get("fields", ())), dict(values.get("metadata", {})),
                                 missing, values.get("skip_invalid", False))
        try:
            settings.selector()
        except ConfigError as exc:
            raise self.error("[input]", str(exc)) from None
        return settings

    def template(self, data: Mapping[str, Any]) -> str | None:
        if "template" not in data:
            return None
        template = self.typed("template", "template",
                              self.value("template", "template", data["template"]), str)
        from ..write.naming import TemplateNamer

        try:
            TemplateNamer(template=template)
        except ConfigError as exc:
            raise self.error("template", str(exc)) from None
        return template

    def pipeline(self, data: Mapping[str, Any]) -> Pipeline:
        """Check every section of ``data`` and return the :class:`Pipeline`."""
        from ..read.manager import ReadingRollManager
        from ..write.manager import WritingRollManager

        if not isinstance(data, Mapping):
            raise ConfigError(f"{self.name}: a pipeline config must be a table, got "
                              f"{toml_type(data)}")
        for key in data:
            if key not in SECTIONS:
                raise self.unknown_key("", key, list(SECTIONS))
        directory = self.typed("directory", "directory",
                               self.value("directory", "directory", data.get("directory", ".")),
                               str)
        template = self.template(data)
        namer = self.step("namer", 1, data["namer"]) if "namer" in data else None
        if namer is None and template is None:
            raise ConfigError(f'{self.name}: template is missing: say how archives are named, '
                              'e.g. template = "events_%Y%m%dT%H%M%S_{seq}.events"')
        roll = self.steps(data, "roll")
        on_open = self.steps(data, "on_open")
        on_close = self.steps(data, "on_close")
        writer, _, writer_shown = self.settings(data, "writer", WritingRollManager, {})
        self.block_limits(writer, WritingRollManager)
        reader, extra, reader_shown = self.settings(data, "reader", ReadingRollManager,
                                                    _READER_EXTRA)
        pattern = extra.get("pattern")
        if pattern is None:
            named_by = template or getattr(namer.build() if namer else None, "template", None)
            pattern = glob_for_template(named_by) if isinstance(named_by, str) else None
        return Pipeline(
            source=self.name,
            directory=directory,
            template=template,
            namer=namer,
            roll=roll,
            on_open=on_open,
            on_close=on_close,
            writer_settings=writer,
            reader_settings=reader,
            reader_directory=extra.get("directory", directory),
            reader_pattern=pattern,
            input=self.input(data),
            shown_settings={
                "directory": self.display("directory", data.get("directory"), directory),
                "writer": writer_shown,
                "reader": reader_shown,
            },
            warnings=tuple(self.warnings),
        )
