"""``shoebox collect BASE``: run a collection once, or every N seconds until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from shoebox_core.errors import ConfigError

from .collector import GiB, collect
from .report import CollectReport
from .zipdest import COMPRESSIONS

__all__ = ["configure_parser", "run"]

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": GiB, "t": 1024**4}


def parse_size(text: str) -> int:
    """``"50G"``, ``"512M"``, ``"1048576"`` -> bytes (binary units, optional ``iB``/``B``)."""
    cleaned = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise ConfigError(f"--max-archive-bytes: {text!r} is not a size (e.g. 50G, 512M)") from None
    if value <= 0:
        raise ConfigError(f"--max-archive-bytes: {text!r} must be positive")
    return int(value)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``shoebox collect``."""
    parser.add_argument("base", help="the base directory the workers stage into")
    parser.add_argument("--every", type=float, metavar="SECONDS",
                        help="keep collecting, every SECONDS, until SIGTERM or Ctrl-C")
    parser.add_argument("--max-archive-bytes", default="50G", metavar="SIZE",
                        help="roll a destination to a new numbered part at about SIZE "
                             "(default 50G)")
    parser.add_argument("--compression", choices=sorted(COMPRESSIONS), default="deflate",
                        help="how entries are stored in the zip files (default deflate)")
    parser.add_argument("--level", type=int, choices=range(10), metavar="0-9",
                        help="deflate's compression level (default 6)")
    parser.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                        help="how long to retry destinations other collectors hold (default 60)")
    parser.add_argument("--json", action="store_true",
                        help="print each report as one line of JSON")


def _print(report: CollectReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict()), flush=True)
    else:
        print(report.summary(), flush=True)


def run(args: argparse.Namespace) -> int:
    """Run ``shoebox collect``; exit status 0, or 1 when an error kept files in their inbox or
    an entry was quarantined."""
    if args.every is not None and args.every <= 0:
        raise ConfigError(f"--every must be positive, got {args.every}")
    options: dict[str, Any] = {
        "max_archive_bytes": parse_size(args.max_archive_bytes),
        "compression": args.compression,
        "compresslevel": args.level,
        "wait": args.wait,
    }
    if args.every is None:
        report = collect(args.base, **options)
        _print(report, args.json)
        return 0 if report.ok else 1
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    # Stop between collections, never in the middle of one (which would only be undone).
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        while not stop.is_set():
            report = collect(args.base, **options)
            if report.added or report.renamed or report.quarantined or report.errors:
                _print(report, args.json)
            status = 0 if report.ok else 1
            stop.wait(args.every)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("shoebox collect: stopped", file=sys.stderr)
    return status
