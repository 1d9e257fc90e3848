"""``shoebox write``: JSON lines from stdin or files into a pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import IO, Any, cast

from ..cli._common import (
    EXIT_DATA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPELINE,
    EXIT_USAGE,
    CommandError,
    add_config,
    add_progress,
    load,
    plural,
    say,
)

__all__ = ["add_parser", "run"]

_SHOWN_SKIPS = 10  # skipped lines reported one by one; the rest are only counted
_GRACE = 30.0  # seconds shipping gets after Ctrl-C / SIGTERM when no close_timeout is set
_BOM = b"\xef\xbb\xbf"

DESCRIPTION = """\
Write JSON lines into the pipeline a config file describes. Each line becomes one record: its
payload is the line exactly as given (without the newline), its metadata is chosen from the
parsed object by --fields and --metadata (or the config's [input] table). Blank lines are
ignored; a line that is not JSON stops the command (exit 1) unless --skip-invalid. Files ending
in .gz or .zst are decompressed; "-" (or no FILE) reads stdin.

At start, files a previous run left unshipped are resumed (even with no input: shoebox write -c
CONFIG </dev/null). While the remote is down, one file probes and the others wait; the command
says what waits and when it tries next. At the end of the input the active file is sealed and
shipped; on Ctrl-C or SIGTERM, the input stops between records, the active file is sealed and
shipping gets the grace time ([writer] close_timeout, default 30 s). Files still unshipped then
stay on disk with their journals, and the command says how they will be shipped (exit 3).
"""

EPILOG = """\
examples:
  shoebox write -c pipeline.toml events.jsonl
  zcat events.jsonl.gz | shoebox write -c pipeline.toml --fields event_type,host=publisher_id
  shoebox write -c pipeline.toml --metadata 'uuid=payload.instance_id or payload.uuid' -

field paths: name, name.sub, list.0, name["odd key"]; "key=path" renames.
expressions: paths, 'strings', a or b (first non-empty), a + b, x[:10], lower(x), upper(x),
  strip(x), replace(x, 'a', 'b'), split(x, '.')[0], json(x). See docs/config.md.
"""


def add_parser(sub: Any) -> None:
    """Register ``shoebox write``."""
    parser = sub.add_parser(
        "write", help="write JSON lines (stdin or files) into a config's pipeline",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="JSON-lines files ('-' is "
                        "stdin; default: stdin)")
    add_config(parser, required=True)
    parser.add_argument("-f", "--fields", action="append", default=[], metavar="LIST",
                        help="comma-separated field paths that become metadata, each optionally "
                        "renamed: event_type,uuid=payload.instance_id (repeatable)")
    parser.add_argument("-m", "--metadata", action="append", default=[], metavar="NAME=EXPR",
                        help="a metadata key computed by an expression (repeatable)")
    parser.add_argument("--missing", choices=("empty", "omit", "error"),
                        help="when a field is missing: store \"\" (default), leave the key out, "
                        "or stop with exit 1")
    parser.add_argument("--skip-invalid", action="store_true", default=None,
                        help="skip lines that are not JSON (reported on stderr) instead of "
                        "stopping")
    parser.add_argument("-d", "--directory", help="write here instead of the config's directory")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve the writer's counters in the Prometheus text format on "
                        "http://127.0.0.1:PORT/metrics (needs shoebox-core[metrics]; default: "
                        "the config's [writer] metrics_port)")
    add_progress(parser)
    parser.set_defaults(func=run)


def _selection(args: argparse.Namespace, pipeline: Any) -> Any:
    from ..config.selectors import MetadataSelector
    from ..errors import ConfigError

    settings = pipeline.input
    fields = [f for group in args.fields for f in group.split(",") if f.strip()]
    expressions = {}
    for item in args.metadata:
        name, sep, expression = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--metadata {item!r} is not NAME=EXPRESSION", EXIT_USAGE)
        expressions[name.strip()] = expression
    if not fields and not expressions:
        fields, expressions = list(settings.fields), dict(settings.metadata)
    try:
        return MetadataSelector(fields, expressions, missing=args.missing or settings.missing)
    except ConfigError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _open_input(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    try:
        if name.endswith(".gz"):
            return cast(IO[bytes], gzip.open(name, "rb"))
        if name.endswith(".zst"):
            import zstandard

            return zstandard.open(name, "rb")  # type: ignore[no-any-return]
        return open(name, "rb")
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror or exc}", EXIT_USAGE) from None


def _lines(name: str, stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)``; a file that cannot be read or decompressed is a data problem."""
    import zlib

    import zstandard

    number = 0
    lines = iter(stream)
    while True:
        try:
            _SIGNALS["reading"] = True  # a stop signal may interrupt a wait for input at once
            try:
                if _SIGNALS["stop"]:
                    raise KeyboardInterrupt
                line = next(lines)
            finally:
                _SIGNALS["reading"] = False
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
            raise CommandError(f"{name}: cannot read line {number + 1}: {exc}",
                               EXIT_DATA) from None
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        yield number, line


def run(args: argparse.Namespace) -> int:
    """Run ``shoebox write``."""
    from ..cli._progress import progress, wanted
    from ..config.selectors import MissingField
    from ..errors import CallbackError, RecordTooLarge

    pipeline = load(args.config)
    if args.directory:
        pipeline = dataclasses.replace(pipeline, directory=args.directory)
    select = _selection(args, pipeline)
    skip_invalid = args.skip_invalid if args.skip_invalid is not None else (
        pipeline.input.skip_invalid)
    names = args.files or ["-"]
    if "-" in names and sys.stdin.isatty():
        say(args, "reading JSON lines from the terminal (Ctrl-D ends the input)")
    for name in names:
        if name != "-" and not os.path.isfile(name):
            raise CommandError(f"cannot read {name}: no such file", EXIT_USAGE)
    plain = all(n != "-" and not n.endswith((".gz", ".zst")) for n in names)
    total = sum(os.path.getsize(n) for n in names) if plain else None
    bar = progress(show=wanted(args.progress), total=total, unit="B", unit_scale=True,
                   desc="write")
    written = skipped = 0
    failure: CommandError | None = None
    interrupted = False
    overrides: dict[str, Any] = {"on_shipping_event": lambda event: _shipping_news(args, event)}
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    writer = pipeline.open_writer(**overrides)
    _WRITERS[:] = [writer]
    loads = json.loads
    write = writer.write
    _SIGNALS.update(stop=False, reading=False)
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        writer.start()  # files a previous run left unshipped: resumed now, input or not
        for name in names:
            shown = "<stdin>" if name == "-" else name
            stream = _open_input(name)
            pending = 0
            try:
                for number, raw in _lines(shown, stream):
                    pending += len(raw)
                    line = raw.rstrip(b"\r\n")
                    if not line.strip():
                        continue
                    try:
                        obj = loads(line)
                        payload = line.decode("utf-8")
                    except ValueError as exc:
                        problem = f"{shown}:{number}: not a JSON line ({_reason(exc)})"
                        if not skip_invalid:
                            raise CommandError(problem + "; --skip-invalid skips such lines",
                                               EXIT_DATA) from None
                        skipped += 1
                        if skipped <= _SHOWN_SKIPS:
                            say(args, "skipped " + problem)
                        continue
                    try:
                        write(select(obj) if select else {}, payload)
                    except (MissingField, RecordTooLarge) as exc:
                        raise CommandError(f"{shown}:{number}: {exc}", EXIT_DATA) from None
                    except (TypeError, ValueError) as exc:  # e.g. a lone surrogate from \ud800
                        raise CommandError(f"{shown}:{number}: record refused: {exc}",
                                           EXIT_DATA) from None
                    written += 1
                    if pending >= 1 << 20:
                        bar.update(pending)
                        bar.set_postfix_str(f"{written:,} records")
                        pending = 0
            finally:
                bar.update(pending)
                if stream is not sys.stdin.buffer:
                    stream.close()
        if _SIGNALS["stop"]:  # the signal came as the input ended: still a stop, not an end
            raise KeyboardInterrupt
    except CommandError as exc:
        failure = exc
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (systemd, Kubernetes): seal, ship, exit
        interrupted = True
        if writer.close_timeout is None:
            writer.close_timeout = _GRACE  # shipping gets the grace time, not forever
    finally:
        bar.close()
        try:
            writer.close()
            callback_error = None
        except CallbackError as exc:
            callback_error = exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    files = len(writer.sealed)
    summary = (f"wrote {plural(written, 'record')} into {plural(files, 'archive')} in "
               f"{writer.directory}")
    if skipped:
        summary += (f"; skipped {plural(skipped, 'line')} that {'is' if skipped == 1 else 'are'}"
                    " not JSON")
    say(args, summary)
    if failure is not None:
        print(f"shoebox write: {failure}", file=sys.stderr)
    unshipped = _unshipped(args, writer)
    if callback_error is not None and not unshipped:
        print(f"shoebox write: {callback_error}", file=sys.stderr)
    if interrupted:
        print("shoebox write: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if failure is not None:
        return failure.code
    return EXIT_PIPELINE if callback_error is not None or unshipped else EXIT_OK


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


_WRITERS: list[Any] = []  # the writer of this command, for the shipping news


_SIGNALS = {"stop": False, "reading": False}


def _stop(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM: stop reading input, then seal and ship as at its end. Raised only
    between records (at once while waiting for input), never inside ``write()``: a record is
    stored whole or not at all. A second signal ends the process at once."""
    signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else
                  signal.default_int_handler)
    _SIGNALS["stop"] = True
    if _SIGNALS["reading"]:
        raise KeyboardInterrupt


def _shipping_news(args: argparse.Namespace, event: Any) -> None:
    """Tell the operator what waits while the remote is down (one line per failed probe)."""
    if event.kind != "waiting" or not _WRITERS:
        return
    backlog = sum(len(closer.pending()) for closer in _closers(_WRITERS[0])) or 1
    delay = event.delay or 0.0
    say(args, f"{backlog} file{'s' * (backlog != 1)} waiting to ship, next try in "
        f"{delay:.{0 if delay >= 10 else 1}f} s ({event.error})")


def _closers(writer: Any) -> list[Any]:
    """The background shipping workers of ``writer`` (one per partition when partitioned)."""
    many = getattr(writer, "closers", None)
    if many is not None:
        return list(many)
    return [writer.closer] if writer.closer is not None else []


def _unshipped(args: argparse.Namespace, writer: Any) -> list[str]:
    """Say which files were left unshipped and how they will be shipped; return them."""
    closers = _closers(writer)
    left = [path for closer in closers for path in closer.pending()]
    if not left:
        return left
    cause = next((c.breaker.cause for c in closers if c.breaker.cause is not None), None)
    why = f" ({cause})" if cause is not None else ""
    config = f" -c {args.config}" if args.config else ""
    say(args, f"{len(left)} file{'s' * (len(left) != 1)} not shipped{why}; they stay in "
        f"{writer.directory} with their journals and are shipped by the next "
        f"'shoebox write{config}' (even with no input: </dev/null) or 'shoebox recover{config}'")
    return left
