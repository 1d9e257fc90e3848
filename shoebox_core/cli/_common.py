"""What the ``shoebox`` subcommands share: exit codes, errors, config and archive look-up."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import CommandError

EXIT_OK = 0
EXIT_DATA = 1  # a damaged archive, an input line that is not JSON, a record refused
EXIT_USAGE = 2  # bad arguments, a bad config file, an unknown plugin
EXIT_PIPELINE = 3  # an on-close step (compress, upload...) or the file system failed
EXIT_NO_MATCH = 4  # no archive matches the pattern
EXIT_INTERRUPTED = 130

EXIT_CODES = f"""\
exit status:
  {EXIT_OK}    success
  {EXIT_DATA}    a data problem: a damaged or truncated archive, an input line that is not
       JSON, a record refused (too large, a missing field with --missing error)
  {EXIT_USAGE}    a usage or configuration error: bad arguments, a bad config file, an
       unknown plugin or option, an unset environment variable
  {EXIT_PIPELINE}    the pipeline failed: an on-close step (compression, upload...) or the
       file system (permissions, disk full)
  {EXIT_NO_MATCH}    no archive matches the pattern
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


def say(args: argparse.Namespace, message: str) -> None:
    """A note on stderr (summaries, skipped lines), unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(f"shoebox {args.command}: {message}", file=sys.stderr)


def plural(count: int, noun: str) -> str:
    """``"1 record"``, ``"2 records"``, ``"1,024 bytes"``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def add_config(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``-c CONFIG``."""
    parser.add_argument(
        "-c", "--config", required=required, metavar="CONFIG",
        help="the pipeline config file (TOML)" + ("" if required else
             "; its [reader] settings, directory and pattern are the defaults"),
    )


def add_reading(parser: argparse.ArgumentParser, *, in_progress: bool = True) -> None:
    """The arguments every reading subcommand takes: patterns, directory, storage options."""
    parser.add_argument(
        "patterns", nargs="*", metavar="PATTERN",
        help="archives to read: a wildcard matched against file names (quote it), a path, or "
        "an fsspec URL such as s3://bucket/prefix/*.events; compressed copies (.gz, .zst) "
        "match too; default: the config's [reader] pattern",
    )
    add_config(parser)
    parser.add_argument("-d", "--directory", help="where relative patterns are looked for "
                        "(default: the config's directory, else the current one)")
    if in_progress:
        parser.add_argument("--include-in-progress", action="store_true", default=None,
                            help="also read files still being written (or left by a crash)")
    parser.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an fsspec storage option for URLs (repeatable; VALUE is JSON "
                        "when it parses as JSON, else a string)")


def add_progress(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress``."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on stderr (default: only when stderr is a "
                        "terminal)")


def load(path: str) -> Any:
    """The pipeline of the config file at ``path`` (ConfigError on any problem)."""
    from ..config.pipeline import load_pipeline

    return load_pipeline(path)


def pairs(items: list[str], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` arguments as a dict; VALUE is JSON when it parses as JSON."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"{what} {item!r} is not KEY=VALUE", EXIT_USAGE)
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def reading_setup(args: argparse.Namespace) -> tuple[list[str], str, dict[str, Any]]:
    """``(patterns, directory, reader settings)`` from the arguments and the optional config."""
    pipeline = load(args.config) if args.config else None
    settings: dict[str, Any] = dict(pipeline.reader_settings) if pipeline else {}
    patterns = list(args.patterns)
    if not patterns:
        if pipeline is None or pipeline.reader_pattern is None:
            raise CommandError("say which archives: give a PATTERN, or -c CONFIG", EXIT_USAGE)
        patterns = [pipeline.reader_pattern]
    directory = args.directory or (pipeline.reader_directory if pipeline else ".")
    names = "*" if pipeline is None or pipeline.reader_pattern is None else \
        pipeline.reader_pattern.rsplit("/", 1)[-1]
    patterns = [_in_directory(args, pattern, directory, names) for pattern in patterns]
    options = pairs(args.storage_option, "--storage-option")
    if options:
        settings["storage_options"] = {**(settings.get("storage_options") or {}), **options}
    if getattr(args, "include_in_progress", None) is not None:
        settings["include_in_progress"] = args.include_in_progress
    return patterns, directory, settings


def _in_directory(args: argparse.Namespace, pattern: str, directory: str, names: str) -> str:
    """A pattern that names a local directory means the archives in it: ``DIR/names``."""
    import glob
    import os

    if "://" in pattern or set("*?[") & set(pattern):
        return pattern
    path = pattern if os.path.isabs(pattern) else os.path.join(directory, pattern)
    if not os.path.isdir(path):
        return pattern
    expanded = os.path.join(glob.escape(pattern.rstrip("/") or "/"), names)
    say(args, f"{pattern} is a directory: reading {expanded}")
    return expanded


def find(args: argparse.Namespace, patterns: list[str], directory: str,
         settings: dict[str, Any], *, in_progress: bool | None = None) -> list[Any]:
    """The archives the patterns match, in write order; none is an error (exit 4)."""
    from ..read.inspection import find_archives

    include = settings.get("include_in_progress", False) if in_progress is None else in_progress
    sources = find_archives(patterns, directory, include_in_progress=include,
                            storage_options=settings.get("storage_options"))
    if not sources:
        where = "" if directory in ("", ".") else f" in {directory}"
        raise CommandError(f"no archive matches {' '.join(patterns)}{where}", EXIT_NO_MATCH)
    return sources
