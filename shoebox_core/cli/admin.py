"""``shoebox recover``, ``shoebox plugins`` and ``shoebox config``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..cli._common import (
    EXIT_DATA,
    EXIT_OK,
    EXIT_PIPELINE,
    EXIT_USAGE,
    CommandError,
    add_config,
    load,
    plural,
    say,
)
from ..plugin._kinds import KINDS, SUBCOMMAND

__all__ = [
    "EXAMPLE_CONFIG",
    "add_parsers",
    "run_config_check",
    "run_plugins",
    "run_recover",
    "run_status",
]

_RAW = argparse.RawDescriptionHelpFormatter

#: What ``shoebox config example`` prints: a small pipeline using only the core's plugins.
EXAMPLE_CONFIG = """\
# A shoebox pipeline. Reference: docs/config.md. Check it with: shoebox config check FILE
directory = "archive"                             # relative to the current directory
template = "events_%Y%m%dT%H%M%S_{seq}.events"    # strftime codes (UTC), {seq}, {host}, {pid}

[writer]
compression = "zstd"        # per block: "none" or "zstd"
flush_interval = 1.0        # seconds; records reach the OS at least this often

[[roll]]                    # roll when any checker says so
plugin = "size"
roll_size_mb = 64

[[on_close]]                # run in this order on every sealed archive
plugin = "move"
directory = "${SHOEBOX_OUTBOX:-archive/sealed}"

[reader]
directory = "archive/sealed"

[input]                     # how `shoebox write` makes metadata from each JSON line
fields = ["event_type"]
"""


def add_parsers(sub: Any) -> None:
    """Register ``recover``, ``plugins`` and ``config``."""
    recover = sub.add_parser(
        "recover", help="seal in-progress files left by a crash and finish their pending steps",
        formatter_class=_RAW,
        description="Seal the in-progress files that dead writers left in DIR (their good "
        "blocks are copied into a sealed file under the intended name; files of live writers "
        "are left alone). With -c CONFIG, only files of the config's template are recovered "
        "and each sealed file then goes through the config's on-close chain (compress, "
        "upload...), as the writer would have done. Exit 1 if a file could not be recovered, "
        "3 if an on-close step failed.",
        epilog="examples:\n  shoebox recover -c pipeline.toml\n  shoebox recover /var/spool/x\n",
    )
    recover.add_argument("directory", nargs="?", metavar="DIR",
                         help="the directory (default: the config's directory)")
    recover.add_argument(
        "--take-over", action="append", default=[], metavar="HOST",
        help="also finish the on-close steps of archives whose journals name HOST, a host that "
        "is gone (e.g. a rescheduled pod's old name); without it they are reported and left, "
        "exit 3 (repeatable)")
    add_config(recover)
    recover.set_defaults(func=run_recover)

    status = sub.add_parser(
        "status",
        help="show what is left to ship in a directory: files, bytes, failures, oldest age",
        description="Summarise the shipping journals of DIR: sealed files whose on-close steps "
        "(compression, upload, removal) are not finished, how many failed and why, the bytes "
        "waiting and the age of the oldest. Files a dead writer left in progress are shown as "
        "stale (shoebox recover seals them). Exit 0 when nothing failed, 3 when a file's "
        "on-close steps failed (kept, retried later), 2 for a usage or config error.",
        epilog="examples:\n  shoebox status -c pipeline.toml\n  shoebox status /var/spool/x "
        "--errors\n",
        formatter_class=_RAW,
    )
    status.add_argument("directory", nargs="?", metavar="DIR",
                        help="the directory (default: the config's directory)")
    add_config(status)
    status.add_argument("--pattern", help="only archives whose name matches this wildcard "
                        "(default with -c: the names the config's template makes)")
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    status.add_argument("--errors", action="store_true", help="show each file's last error")
    status.set_defaults(func=run_status)

    plugins = sub.add_parser(
        "plugins", help="list every installed strategy: name, kind, distribution, version",
        description="List every strategy the installed plugins offer, by kind and name, with "
        "the distribution and version offering it and a one-line summary. Plugins that failed "
        "to load and names offered twice are reported on stderr.",
    )
    plugins.add_argument("--kind", choices=[kind.name for kind in KINDS],
                         help="only strategies of this kind")
    plugins.add_argument("--json", action="store_true", help="one JSON object per strategy")
    plugins.set_defaults(func=run_plugins)

    config = sub.add_parser(
        "config", help="check a pipeline config, or print an example",
        description="Work with pipeline config files (reference: docs/config.md).",
    )
    actions = config.add_subparsers(dest="action", metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate a config and print the assembled pipeline",
        description="Load CONFIG as `shoebox write` would (every plugin resolved, every option "
        "and type checked, environment variables resolved) and print the pipeline: each step "
        "with the distribution it comes from. Secrets are never printed. Exit 2 on any error.",
    )
    check.add_argument("config", metavar="CONFIG", help="the config file (TOML)")
    check.add_argument("--json", action="store_true", help="print the pipeline as JSON")
    check.add_argument("--connect", action="store_true",
                       help="also reach every remote the config names: credentials, the bucket "
                       "or container, a test object written and removed; exit 3 if any fails")
    check.set_defaults(func=run_config_check)
    example = actions.add_parser(
        "example", help="print an example config to start from",
        description="Print a small, commented pipeline config that uses only the core's "
        "plugins: shoebox config example > pipeline.toml",
    )
    example.set_defaults(func=lambda args: print(EXAMPLE_CONFIG, end="") or EXIT_OK)
    config.set_defaults(func=lambda args: config.print_help() or EXIT_USAGE)


def run_recover(args: argparse.Namespace) -> int:
    """Run ``shoebox recover``."""
    from ..errors import CallbackError
    from ..ship.chain import pending_archives
    from ..write.recovery import recover_directory

    pipeline = load(args.config) if args.config else None
    directory = _directory(args, pipeline)
    pattern = None
    chain = None
    if pipeline is not None:
        namer = pipeline.namer.build() if pipeline.namer else None
        if namer is None:
            from ..write.naming import TemplateNamer

            namer = TemplateNamer(template=pipeline.template)
        regex = getattr(namer, "regex", None)
        pattern = regex() if regex is not None else None
        chain = pipeline.on_close_chain()
    found = recover_directory(directory, pattern=pattern)
    todo: list[str] = []
    lost = failed = 0
    for item in found:
        if item.sealed is None:
            lost += "kept as" in item.note
            print(f"{item.source}: {item.note}")
            continue
        print(f"{item.source}: {item.note} as {item.sealed} ({plural(item.records, 'record')}, "
              f"{plural(item.skipped_bytes, 'byte')} skipped)")
        todo.append(os.path.abspath(item.sealed))
    # Sealed files whose on-close steps a dead writer did not finish, as their journals say.
    foreign: list[tuple[str, str]] = []
    pending = [a for a in pending_archives(directory, pattern=pattern, take_over=args.take_over,
                                           foreign=foreign) if a not in todo]
    for archive, host in foreign:
        print(f"{archive}: on-close steps pending under host {host!r}, not this one; left alone "
              f"(if {host!r} is gone: shoebox recover --take-over {host})", file=sys.stderr)
    if chain is None or not len(chain):
        if pending:
            say(args, f"{plural(len(pending), 'sealed archive')} with on-close steps pending; "
                "give -c CONFIG to finish them")
        elif found and chain is None:
            say(args, "no on-close steps were run (give -c CONFIG to run the pipeline's)")
    else:
        for archive in pending:
            print(f"{archive}: on-close steps pending")
        for archive in [*todo, *pending]:
            try:
                final = chain.on_close(archive)
            except CallbackError as exc:
                failed += 1
                print(f"shoebox recover: {exc}", file=sys.stderr)
            else:
                print(f"  on_close ({', '.join(chain.names)}): {final}")
    if not found and not pending and not foreign:
        say(args, f"nothing to recover in {directory}")
    if failed or foreign:
        return EXIT_PIPELINE
    return EXIT_DATA if lost else EXIT_OK


def run_plugins(args: argparse.Namespace) -> int:
    """Run ``shoebox plugins``."""
    from ..plugin._manager import get_plugin_manager

    manager = get_plugin_manager()
    infos = [] if args.kind == SUBCOMMAND.name else manager.strategies(args.kind)
    if args.kind in (None, SUBCOMMAND.name):
        from ..cli.main import builtin_commands

        infos += [info for _, info in manager.subcommands(reserved=builtin_commands())]
    if args.json:
        for info in infos:
            print(json.dumps({"name": info.name, "kind": info.kind,
                              "distribution": info.distribution, "version": info.version,
                              "summary": info.summary}))
    else:
        rows = [("NAME", "KIND", "DISTRIBUTION", "VERSION", "SUMMARY")]
        rows += [(i.name, i.kind, i.distribution, i.version or "-", i.summary) for i in infos]
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        for row in rows:
            print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[4]]).rstrip())
    for failure in manager.failures:
        print(f"shoebox plugins: skipped {failure}", file=sys.stderr)
    for conflict in manager.conflicts:
        print(f"shoebox plugins: {conflict}", file=sys.stderr)
    return EXIT_OK


def run_config_check(args: argparse.Namespace) -> int:
    """Run ``shoebox config check``."""
    pipeline = load(args.config)
    if args.json:
        print(json.dumps(pipeline.to_dict(), indent=2, default=str))
    else:
        print(pipeline.describe())
        print(f"{pipeline.source}: ok")
    for warning in pipeline.warnings:
        print(f"shoebox config: warning: {warning}", file=sys.stderr)
    return _connect(pipeline) if args.connect else EXIT_OK


def _connect(pipeline: Any) -> int:
    """``config check --connect``: reach each remote of the on-close steps; one line each."""
    from ..errors import RemoteError
    from ..remote import check_remote

    failed = 0
    for step in pipeline.on_close:
        transfer = step.build()
        if not hasattr(transfer, "prepare_remote"):
            continue
        try:
            checked = check_remote(transfer)
        except RemoteError as exc:
            failed += 1
            print(f"{transfer.url}: FAILED: {exc.cause}")
        else:
            print(f"{transfer.url}: ok ({checked})")
    return EXIT_PIPELINE if failed else EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    """``shoebox status DIR``."""
    from ..ship.status import directory_status, format_status

    pipeline = load(args.config) if args.config else None
    directory = _directory(args, pipeline)
    pattern = args.pattern
    if pattern is None and pipeline is not None and pipeline.template:
        from ..config.pipeline import glob_for_template

        pattern = glob_for_template(pipeline.template)
    status = directory_status(directory, pattern=pattern)
    if args.json:
        print(json.dumps(status.to_dict(), indent=2, default=str))
    else:
        print(format_status(status, verbose=args.errors))
    return EXIT_PIPELINE if status.failed else EXIT_OK


def _directory(args: argparse.Namespace, pipeline: Any) -> str:
    """DIR, else the config's directory; one that is not there is said, never taken as empty."""
    directory = args.directory or (pipeline.directory if pipeline is not None else None)
    if directory is None:
        raise CommandError("say which directory: give DIR, or -c CONFIG", EXIT_USAGE)
    if not os.path.exists(directory):
        raise CommandError(f"{directory}: no such directory", EXIT_USAGE)
    if not os.path.isdir(directory):
        raise CommandError(f"{directory}: not a directory (give the directory the archives "
                           f"are in: {os.path.dirname(directory) or '.'})", EXIT_USAGE)
    return directory
