"""The ``shoebox`` command: write JSON lines into a pipeline, read archives back, list, verify,
recover, show the installed plugins and check config files.

Each subcommand lives in a small module (:mod:`~shoebox_core.cli.write`,
:mod:`~shoebox_core.cli.read`, :mod:`~shoebox_core.cli.admin`) that imports what it needs only
when it runs, so ``shoebox --help`` stays fast. Exit codes are listed in ``shoebox --help``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..cli._common import (
    EXIT_CODES,
    EXIT_DATA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPELINE,
    EXIT_USAGE,
    CommandError,
)

__all__ = ["build_parser", "builtin_commands", "main"]

def _demo(args: argparse.Namespace) -> int:
    """Write the built-in sample through a rolling, compressing pipeline, then read it back."""
    from ..cli.sample import notifications
    from ..read.manager import ReadingRollManager
    from ..ship.compress import ZstdCallback
    from ..write.checkers import SizeRollChecker
    from ..write.manager import WritingRollManager

    # A fresh directory per run, so the read-back sees exactly this run's files.
    directory = os.path.join(args.directory, time.strftime("run-%Y%m%dT%H%M%S"))
    os.makedirs(directory, exist_ok=False)
    records = list(notifications(args.records))
    payload_bytes = sum(len(p) for _, p in records)
    start = time.perf_counter()
    with WritingRollManager(
        "demo_%Y%m%dT%H%M%S_{seq}.events",
        SizeRollChecker(roll_size_mb=args.roll_mb),
        directory=directory,
        archive_callback=ZstdCallback(),
    ) as writer:
        for metadata, payload in records:
            writer.write(metadata, payload)
    wrote = time.perf_counter() - start
    files = writer.sealed
    print(f"wrote {len(records):,} records ({payload_bytes / 1e6:.1f} MB of payload) into "
          f"{len(files)} files in {directory}/, rolled at {args.roll_mb} MiB and zstd-compressed, "
          f"in {wrote:.2f} s")

    start = time.perf_counter()
    reader = ReadingRollManager("demo_*.events", directory=directory)
    read_back = 0
    with reader:
        for got, want in zip(reader, records):
            if got != want:
                print(f"MISMATCH at record {read_back}", file=sys.stderr)
                return EXIT_DATA
            read_back += 1
    took = time.perf_counter() - start
    stored = sum(os.path.getsize(s.path) for s in reader.files)
    print(f"read back {read_back:,} records from {len(reader.files)} files in {took:.2f} s; "
          f"on disk {stored / 1e6:.1f} MB ({payload_bytes / max(stored, 1):.1f}x smaller than "
          "the payloads)")
    if read_back != len(records):
        print(f"expected {len(records):,} records, read {read_back:,}", file=sys.stderr)
        return EXIT_DATA
    print("every record came back equal and in order")
    return EXIT_OK


class _Formatter(logging.Formatter):
    """``shoebox: message`` on stderr; tracebacks only with ``-v`` (the command itself says
    what failed)."""

    def __init__(self, verbose: bool) -> None:
        super().__init__("%(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if not self.verbose and record.exc_info:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None,
                                            "exc_text": None})
        text = super().format(record)
        return text if text.startswith("shoebox") else f"shoebox: {text}"


def _logging(verbose: int, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(verbose > 0))
    logger = logging.getLogger("shoebox")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose > 1 else
                    logging.INFO if verbose else logging.WARNING)


def _version() -> str:
    from .. import __version__

    return f"shoebox-core {__version__}"


def build_parser(*, plugins: bool = True) -> argparse.ArgumentParser:
    """The argument parser of the ``shoebox`` command (with the subcommands plugins add, unless
    ``plugins`` is false)."""
    from ..cli import admin as cli_admin
    from ..cli import read as cli_read
    from ..cli import write as cli_write

    parser = argparse.ArgumentParser(
        prog="shoebox",
        description="Archive records into rolling, checksummed files, and read them back.",
        epilog=EXIT_CODES + "\nEvery subcommand has its own help: shoebox COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more messages on stderr (-vv: debug, with tracebacks)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="only errors on stderr (no summaries, no warnings)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_write.add_parser(sub)
    cli_read.add_parsers(sub)
    cli_admin.add_parsers(sub)
    demo = sub.add_parser(
        "demo",
        help="write a built-in sample stream through a rolling, compressing pipeline and read it "
        "back",
        description=_demo.__doc__,
    )
    demo.add_argument("--directory", default="shoebox-demo", help="where to write (default: "
                      "%(default)s)")
    demo.add_argument("--records", type=int, default=100_000, help="records to write (default: "
                      "%(default)s)")
    demo.add_argument("--roll-mb", type=float, default=4.0, help="roll size in MiB (default: "
                      "%(default)s)")
    demo.set_defaults(func=_demo)
    if plugins:
        _add_plugin_subcommands(sub)
    for command in sub.choices.values():
        _add_common(command)
    return parser


def builtin_commands() -> list[str]:
    """The names of the core's own subcommands (a plugin may not take one)."""
    parser = build_parser(plugins=False)
    return [
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    ]


def _add_plugin_subcommands(sub: argparse._SubParsersAction) -> None:
    """The subcommands plugin distributions add through the ``shoebox_subcommands`` hook."""
    from ..plugin._manager import get_plugin_manager

    for subcommand, info in get_plugin_manager().subcommands(reserved=list(sub.choices)):
        parser = sub.add_parser(
            subcommand.name,
            help=f"{subcommand.summary} [{info.distribution}]",
            description=subcommand.summary,
        )
        if subcommand.configure_parser is not None:
            subcommand.configure_parser(parser)
        parser.set_defaults(func=_plugin_action(subcommand.action))


def _plugin_action(action: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        status = action(args)
        return EXIT_OK if status is None else int(status)

    return run


def _add_common(parser: argparse.ArgumentParser) -> None:
    """``-v`` / ``-q`` after the subcommand too (``shoebox verify -q ...``), in every subcommand
    and the subcommands of those. SUPPRESS leaves the top-level values alone when not given."""
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more messages on stderr (-vv: debug, with tracebacks)")
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only errors on stderr (no summaries, no warnings)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_common(child)


def _subcommand_parser(parser: argparse.ArgumentParser,
                       args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost parser that ``args`` went through (``shoebox config check``'s for
    ``config check``), whose usage a usage error should show."""
    current = parser
    while True:
        action = next((a for a in current._actions
                       if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, action.dest, None) if action is not None else None
        if action is None or chosen not in action.choices:
            return current
        current = action.choices[chosen]


def _silence_stdout() -> None:
    """No second error when the interpreter flushes stdout at exit into the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _permission(exc: PermissionError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"permission denied{where} ({exc.strerror or exc})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``shoebox`` command; returns the exit status (see ``shoebox --help``)."""
    from ..errors import CallbackError, ConfigError, CorruptArchive, PluginError, ShoeboxError
    from ..ship.background import BacklogFull

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parser.print_help()
        return EXIT_USAGE
    used = _subcommand_parser(parser, args)
    if extra:
        # Reported by the subcommand's parser, so the usage shown is the subcommand's.
        used.error(f"unrecognized arguments: {' '.join(extra)}")
    _logging(args.verbose, args.quiet)
    name = f"shoebox {args.command}"
    try:
        return int(args.func(args))
    except CommandError as exc:
        if exc.code == EXIT_USAGE:
            used.print_usage(sys.stderr)
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.code
    except (ConfigError, PluginError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CorruptArchive as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_DATA
    except BrokenPipeError:
        # The reader of our output went away (``| head -1``): done, quietly, as ``cat`` is.
        _silence_stdout()
        return EXIT_OK
    except PermissionError as exc:
        # A file system problem (exit 3), whatever layer met it: never "damaged", never usage.
        print(f"{name}: {_permission(exc)}", file=sys.stderr)
        return EXIT_PIPELINE
    except (CallbackError, BacklogFull, OSError, ShoeboxError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_PIPELINE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
