"""Pipelines from a config file: plugins named in TOML (or a dict), checked before anything runs.

A pipeline config says where archives go, how they are named, when they roll and what happens
when they open and close, each strategy named by its plugin name::

    directory = "archive"
    template = "events_%Y%m%dT%H%M%S_{seq}.events"

    [writer]
    compression = "zstd"

    [[roll]]                  # roll when any checker says so
    plugin = "size"
    roll_size_mb = 64

    [[on_close]]              # run in this order on every sealed archive
    plugin = "gzip"
    level = 9

:func:`load_pipeline` reads and checks all of it (unknown plugin, unknown or missing option, wrong
type, unset environment variable) and raises :class:`~shoebox_core.errors.ConfigError` naming the
file and the key before any file is touched. ``docs/config.md`` is the reference::

    from shoebox_core.config.pipeline import load_pipeline

    pipeline = load_pipeline("pipeline.toml")          # or a dict of the same shape
    with pipeline.open_writer() as writer:
        writer.write({"event": "start"}, "{}")
    for metadata, payload in pipeline.open_reader():
        ...
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config.selectors import MetadataSelector
from ..errors import ConfigError, PluginError
from ..plugin._manager import ShoeboxPluginManager, get_plugin_manager
from ..plugin._strategies import build
from ..ship.callbacks import CallbackChain, callback_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["InputSettings", "Pipeline", "Step", "glob_for_template", "load_pipeline",
           "remote_pattern"]


@dataclass(frozen=True)
class Step:
    """One strategy named in a config: its place, its plugin, its options, how to build it."""

    section: str
    index: int
    plugin: str
    kind: str
    origin: str
    summary: str
    options: Mapping[str, Any]
    shown: Mapping[str, Any]  # the options as safe to print: secrets blanked
    factory: Callable[..., Any] = field(repr=False)
    label: str = field(repr=False, default="")

    @property
    def where(self) -> str:
        """Where the step is written: ``[[on_close]] #2 (plugin "gzip")``."""
        return where_of(self.section, self.index, self.plugin)

    def build(self, **extra: Any) -> Any:
        """A new strategy object with the configured options (plus ``extra``, e.g. ``clock``,
        passed only if the factory takes it)."""
        options = dict(self.options)
        if extra:
            accepted = accepted_options(self.factory)
            options.update({k: v for k, v in extra.items() if accepted is None or k in accepted})
        return build(self.label or self.where, self.factory, options)


@dataclass(frozen=True)
class InputSettings:
    """``[input]``: how ``shoebox write`` turns a JSON line into metadata."""

    fields: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    missing: str = "empty"
    skip_invalid: bool = False

    def selector(self) -> MetadataSelector:
        """The :class:`~shoebox_core.config.selectors.MetadataSelector` these settings describe."""
        return MetadataSelector(self.fields, self.metadata, missing=self.missing)


class _OnOpen:
    """Exposes only ``on_open`` of a step listed under ``[[on_open]]``."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.name = callback_name(callback)

    def on_open(self, filename: str) -> None:
        self.callback.on_open(filename)


class _OnClose:
    """Exposes only ``on_close`` of a step listed under ``[[on_close]]``."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.name = callback_name(callback)

    def on_close(self, filename: str) -> Any:
        return self.callback.on_close(filename)

    def __getattr__(self, attribute: str) -> Any:
        # Shipping asks steps for ``transient_failures`` (retry by default) and ``stats``
        # (files and bytes shipped): answer for the wrapped step. Never ``on_open``: a step
        # listed only under [[on_close]] must not also run when a file opens.
        if attribute == "on_open" or attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self.callback, attribute)


@dataclass(frozen=True)
class Pipeline:
    """A checked pipeline config. Strategies are built anew for every writer or reader opened."""

    source: str
    directory: str
    template: str | None
    namer: Step | None
    roll: tuple[Step, ...]
    on_open: tuple[Step, ...]
    on_close: tuple[Step, ...]
    writer_settings: Mapping[str, Any]
    reader_settings: Mapping[str, Any]
    reader_directory: str
    reader_pattern: str | None
    input: InputSettings
    shown_settings: Mapping[str, Any] = field(default_factory=dict)  # secrets blanked
    warnings: tuple[str, ...] = ()

    def callbacks(self, **extra: Any) -> list[Any]:
        """The on-open callbacks then the on-close steps, built, each exposing only its hook."""
        return [_OnOpen(s.build(**extra)) for s in self.on_open] + [
            _OnClose(s.build(**extra)) for s in self.on_close
        ]

    def on_close_chain(self, **extra: Any) -> CallbackChain:
        """The on-close steps as one chain, journaled as a writer's is (see
        :mod:`shoebox_core.ship.chain`), so it resumes the pending steps of files a writer of this
        pipeline left: ``chain.on_close(sealed_name)`` runs the steps not done yet."""
        from ..ship.chain import ShippingChain

        return ShippingChain([_OnClose(s.build(**extra)) for s in self.on_close],
                             clock=extra.get("clock"))

    def open_writer(self, *, clock: Any = None, **overrides: Any) -> Any:
        """A new :class:`~shoebox_core.write.manager.WritingRollManager` for this pipeline;
        ``overrides`` replace writer settings (``background=False``...)."""
        from ..write.manager import WritingRollManager

        extra = {"clock": clock} if clock is not None else {}
        settings = {**self.writer_settings, **overrides}
        try:
            return WritingRollManager(
                self.template or "",
                [step.build(**extra) for step in self.roll] or None,
                self.directory,
                self.callbacks(**extra) or None,
                namer=self.namer.build(**extra) if self.namer is not None else None,
                **extra,
                **settings,
            )
        except (TypeError, ValueError, PluginError) as exc:
            raise ConfigError(f"{self.source}: {exc}") from exc

    def open_reader(self, pattern: str | None = None, **overrides: Any) -> Any:
        """A new :class:`~shoebox_core.read.manager.ReadingRollManager` over ``pattern`` (default:
        the ``[reader]`` pattern, or every archive the template can produce)."""
        from ..read.manager import ReadingRollManager

        pattern = pattern or self.reader_pattern
        if pattern is None:
            raise ConfigError(f"{self.source}: [reader] pattern is needed (no template to "
                              "derive it from)")
        settings = {**self.reader_settings, **overrides}
        return ReadingRollManager(pattern, self.reader_directory, **settings)

    def describe(self) -> str:
        """The assembled pipeline, as ``shoebox config check`` prints it (secrets blanked)."""
        from ..config.show import describe

        return describe(self)

    def to_dict(self) -> dict[str, Any]:
        """The assembled pipeline as plain data (secrets blanked), e.g. for JSON output."""
        from ..config.show import as_dict

        return as_dict(self)


def where_of(section: str, index: int, plugin: str | None = None) -> str:
    """How messages name an entry: ``[[on_close]] #2 (plugin "gzip")``, ``[namer]``."""
    if section == "namer":
        place = "[namer]"
    else:
        place = f"[[{section}]] #{index}"
    return place if plugin is None else f'{place} (plugin "{plugin}")'


def accepted_options(factory: Callable[..., Any]) -> set[str] | None:
    """The keyword names ``factory`` takes; None when it takes any (``**kwargs``) or is opaque."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


_TEMPLATE_TOKEN = re.compile(r"%%|%[-_0^#]?[A-Za-z]|\{\{|\}\}|\{[^{}]*\}|[*?\[]|[^%{}*?\[]+|.")


def glob_for_template(template: str) -> str:
    """A wildcard matching every name ``template`` can produce: strftime codes and ``{fields}``
    become ``*``; ``events_%Y%m%d_{seq}.events`` gives ``events_*_*.events``."""
    out = []
    for match in _TEMPLATE_TOKEN.finditer(template):
        token = match.group(0)
        if token in ("%%", "{{", "}}"):
            out.append(token[0])
        elif token.startswith(("%", "{")) and len(token) > 1:
            if not out or out[-1] != "*":
                out.append("*")
        elif token in ("*", "?", "["):
            out.append(f"[{token}]")
        else:
            out.append(token)
    return "".join(out)


def load_pipeline(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    name: str | None = None,
    plugin_manager: ShoeboxPluginManager | None = None,
    environ: Mapping[str, str] | None = None,
) -> Pipeline:
    """Read and check a pipeline config: a TOML file's path, or a dict of the same shape.

    ``name`` is how messages call the source (default: the path, or ``<dict>``);
    ``plugin_manager`` defaults to the shared one (every installed plugin); ``environ`` (default
    ``os.environ``) resolves ``${VAR}`` references. Raises :class:`ConfigError` (or
    :class:`PermissionError` when the file may not be read).
    """
    from ..config._load import Loader

    if isinstance(source, Mapping):
        data: Mapping[str, Any] = source
        label = name or "<dict>"
    else:
        path = os.fspath(source)
        label = name or path
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except PermissionError:
            raise  # a file-system problem (exit 3), not a config error
        except OSError as exc:
            raise ConfigError(f"{label}: cannot read the config: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{label}: not valid TOML: {exc}") from None
    loader = Loader(label, plugin_manager or get_plugin_manager(),
                     os.environ if environ is None else environ)
    return _reviewed(loader.pipeline(data), data)


def _reviewed(pipeline: Pipeline, data: Mapping[str, Any]) -> Pipeline:
    """``pipeline`` checked as a whole, from what its steps declare: a chain whose steps run on a
    file an earlier one removed is refused; the reader's default pattern follows the archives to
    their remote copies when the local ones do not stay; compressing twice is warned about."""
    from ..ship.chain import local_effect, order_problem

    built = [step.build() for step in pipeline.on_close]
    problem = order_problem(built, lambda i: pipeline.on_close[i].where)
    if problem is not None:
        raise ConfigError(f"{pipeline.source}: {problem}")
    if pipeline.writer_settings.get("partition_by") is not None:
        from ..write.partition import partition_fields

        try:
            partition_fields(pipeline.writer_settings["partition_by"])
        except ConfigError as exc:
            raise ConfigError(f"{pipeline.source}: [writer] {exc}") from None
        limit = pipeline.writer_settings.get("max_partitions", 1)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"{pipeline.source}: [writer] max_partitions must be an integer "
                              f"of at least 1, got {limit!r}")
    changes: dict[str, Any] = {}
    given = data.get("reader")
    reader: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    kept = not any(local_effect(step) in ("removes", "moves") for step in built)
    transfer = next((s for s in built if isinstance(getattr(s, "url", None), str)
                     and isinstance(getattr(s, "template", None), str)), None)
    if (not kept and transfer is not None and pipeline.reader_pattern is not None
            and "pattern" not in reader and "directory" not in reader):
        changes["reader_pattern"] = remote_pattern(transfer.url, transfer.template,
                                                   pipeline.reader_pattern)
        options = getattr(transfer, "storage_options", None)
        if options and "storage_options" not in pipeline.reader_settings:
            changes["reader_settings"] = {**pipeline.reader_settings,
                                          "storage_options": dict(options)}
    twice = [pipeline.on_close[i].where for i, step in enumerate(built)
             if local_effect(step) == "compresses"]
    block = pipeline.writer_settings.get("compression", "none")
    if block != "none" and twice:
        changes["warnings"] = (*pipeline.warnings, (
            f"{pipeline.source}: [writer] compression = {block!r} compresses every block, and "
            f"{twice[0]} compresses the file again on close: the second pass cannot shrink "
            "compressed blocks, so the file stays about a quarter larger than one compression "
            "on close (1.52 MB against 1.20 MB for the sample data) for more CPU; keep one: "
            "on close (smallest) or per block (compressed while written)"))
    return dataclasses.replace(pipeline, **changes) if changes else pipeline


def remote_pattern(url: str, template: str, name_pattern: str) -> str:
    """The pattern finding the objects a transfer to ``url`` names with ``template``:
    ``{name}`` (the archive's file name) becomes ``name_pattern``, the other fields and strftime
    codes ``*``: ``("s3://b/ev", "{event_type}/%Y/{name}", "ev_*.events")`` gives
    ``s3://b/ev/*/*/ev_*.events``."""
    name_pattern = name_pattern.rsplit("/", 1)[-1]
    parts = [glob_for_template(part) for part in template.split("{name}")]
    return url.rstrip("/") + "/" + name_pattern.join(parts)
