"""Showing an assembled pipeline, as ``shoebox config check`` prints it; secrets stay blanked."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from ..config.pipeline import Pipeline, Step

__all__ = ["as_dict", "describe"]


def _step(step: Step) -> dict[str, Any]:
    return {
        "plugin": step.plugin,
        "kind": step.kind,
        "from": step.origin,
        "options": dict(step.shown),
    }


def as_dict(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline as plain, JSON-ready data: every section, each step with its origin."""
    shown = pipeline.shown_settings
    return {
        "source": pipeline.source,
        "directory": shown.get("directory", pipeline.directory),
        "template": pipeline.template,
        "namer": _step(pipeline.namer) if pipeline.namer is not None else None,
        "roll": [_step(s) for s in pipeline.roll],
        "on_open": [_step(s) for s in pipeline.on_open],
        "on_close": [_step(s) for s in pipeline.on_close],
        "writer": dict(shown.get("writer", {})),
        "reader": {
            "directory": pipeline.reader_directory,
            "pattern": pipeline.reader_pattern,
            **shown.get("reader", {}),
        },
        "input": {
            "fields": list(pipeline.input.fields),
            "metadata": dict(pipeline.input.metadata),
            "missing": pipeline.input.missing,
            "skip_invalid": pipeline.input.skip_invalid,
        },
        "warnings": list(pipeline.warnings),
    }


def _value(value: Any) -> str:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, default=str)


def _options(options: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={_value(value)}" for key, value in options.items())


def _steps(title: str, steps: tuple[Step, ...], empty: str) -> list[str]:
    if not steps:
        return [f"{title}: {empty}"]
    lines = [f"{title}:"]
    name_width = max(len(s.plugin) for s in steps)
    origin_width = max(len(s.origin) + 2 for s in steps)
    for number, step in enumerate(steps, 1):
        origin = f"({step.origin})"
        line = f"  {number}. {step.plugin:<{name_width}}  {origin:<{origin_width}}  "
        lines.append((line + _options(step.shown)).rstrip())
    return lines


def describe(pipeline: Pipeline) -> str:
    """A few lines per section: where files go, how they are named, every step in order
    (warnings are in ``pipeline.warnings``)."""
    data = as_dict(pipeline)
    lines = [f"pipeline {pipeline.source}"]
    lines.append(f"directory: {data['directory']}")
    if pipeline.namer is not None:
        lines += _steps("namer", (pipeline.namer,), "")
    else:
        lines.append(f"template: {pipeline.template}")
    lines += _steps("roll (when any says so)", pipeline.roll, "never (one archive per writer)")
    lines += _steps("on_open", pipeline.on_open, "none")
    lines += _steps("on_close (in this order)", pipeline.on_close, "none")
    lines.append("writer: " + (_options(data["writer"]) or "defaults"))
    lines.append("reader: " + _options(data["reader"]))
    selection = data["input"]
    if selection["fields"] or selection["metadata"]:
        lines.append("input: " + _options(selection))
    return "\n".join(lines)
