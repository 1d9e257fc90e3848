"""``shoebox cat``, ``shoebox ls`` and ``shoebox verify``: reading archives back."""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..cli._common import (
    EXIT_DATA,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_progress,
    add_reading,
    find,
    plural,
    reading_setup,
    say,
)
from ..read.sources import release

__all__ = ["add_parsers", "run_cat", "run_ls", "run_verify"]

_RAW = argparse.RawDescriptionHelpFormatter
_COMPACT = (",", ":")


def add_parsers(sub: Any) -> None:
    """Register ``cat``, ``ls`` and ``verify``."""
    cat = sub.add_parser(
        "cat", help="print the records of archives as JSON lines", formatter_class=_RAW,
        description="Print the records of every matching archive, in write order, one JSON "
        "object per line: {\"metadata\": {...}, \"payload\": ...}. A payload that is JSON is "
        "embedded as it was written, any other text as a JSON string, bytes as "
        "\"payload_base64\". Damage stops the command (exit 1) unless --lenient.",
        epilog="examples:\n"
        "  shoebox cat 'archive/events_*.events'\n"
        "  shoebox cat -c pipeline.toml --where event_type=compute.instance.create.end --count\n"
        "  shoebox cat 's3://bucket/events/*.events' --payload-only | jq .event_type\n"
        "  shoebox cat --follow --checkpoint consumer.pos 'archive/events_*.events'\n",
    )
    add_reading(cat)
    cat.add_argument("-w", "--where", action="append", default=[], metavar="KEY=VALUE",
                     help="only records whose metadata KEY equals VALUE (KEY!=VALUE: differs); "
                     "repeatable, all must hold")
    shape = cat.add_mutually_exclusive_group()
    shape.add_argument("--count", action="store_true", help="print only how many records match")
    shape.add_argument("--metadata-only", action="store_true",
                       help="print only each record's metadata object")
    shape.add_argument("--payload-only", action="store_true",
                       help="print only the payloads, exactly as written (what `shoebox write` "
                       "read)")
    cat.add_argument("-n", "--limit", type=int, metavar="N", help="stop after N records")
    cat.add_argument("--lenient", action="store_true", default=None,
                     help="skip damaged blocks (reported on stderr, exit 1) instead of stopping")
    cat.add_argument("-f", "--follow", action="store_true",
                     help="one PATTERN: after the last archive, print the records of the one "
                     "being written as they are flushed, and of the next ones, until "
                     "interrupted (Ctrl-C or SIGTERM: exit 0)")
    cat.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS",
                     help="with --follow, how often to list the archives again (default 1)")
    cat.add_argument("--checkpoint", metavar="FILE",
                     help="one PATTERN: resume after the position saved in FILE, and save the "
                     "position there (atomically) as records are printed and on exit")
    cat.set_defaults(func=run_cat)

    ls = sub.add_parser(
        "ls", help="list archives: records, bytes, codec, state, time range",
        formatter_class=_RAW,
        description="One row per matching archive, in write order, in-progress files "
        "included: records, bytes on disk, codec (blocks, and +gzip / +zstd for a compressed "
        "file), state (sealed, in progress, truncated, damaged, legacy), and the time range "
        "from its creation to its sealing (UTC). Read from headers only: `shoebox verify` "
        "checks every byte. Exit 1 if any file is damaged.",
        epilog="examples:\n  shoebox ls 'archive/*.events'\n  shoebox ls -c pipeline.toml --json\n",
    )
    add_reading(ls, in_progress=False)
    ls.add_argument("--json", action="store_true", help="one JSON object per archive")
    add_progress(ls)
    ls.set_defaults(func=run_ls)

    verify = sub.add_parser(
        "verify", help="check every checksum of archives; report each damage",
        formatter_class=_RAW,
        description="Read every block of every matching archive and check its checksums. "
        "Prints one line per archive (ok, or DAMAGED with the file and byte offset of each "
        "damaged stretch) and a summary; exit 1 if anything is damaged. In-progress files are "
        "checked with --include-in-progress (an unfinished last block is not damage).",
        epilog="examples:\n  shoebox verify 'archive/*.events*'\n"
        "  shoebox verify -c pipeline.toml --quiet || echo damaged\n",
    )
    add_reading(verify)
    verify.add_argument("--json", action="store_true", help="one JSON object per archive")
    add_progress(verify)
    verify.set_defaults(func=run_verify)


def _conditions(items: list[str]) -> list[tuple[str, bool, str]]:
    conditions = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or key == "!":
            raise CommandError(f"--where {item!r} is not KEY=VALUE or KEY!=VALUE", EXIT_USAGE)
        negate = key.endswith("!")
        conditions.append((key[:-1] if negate else key, negate, value))
    return conditions


def _payload_field(payload: str | bytes) -> str:
    """``"payload":...`` for a record line: JSON text embedded as written, when it is one line."""
    if isinstance(payload, bytes):
        return '"payload_base64":' + json.dumps(base64.b64encode(payload).decode("ascii"))
    try:
        value = json.loads(payload)
    except ValueError:
        return '"payload":' + json.dumps(payload, ensure_ascii=False)
    if "\n" in payload or "\r" in payload:
        return '"payload":' + _dumps(value)
    return '"payload":' + payload.strip()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=_COMPACT)


def _records(
    sources: list[Any], lenient: bool, damaged: list[str]
) -> Iterator[tuple[dict[str, str], Any]]:
    """Every record of ``sources`` in order; damage a lenient read skips is reported on stderr
    and its file added to ``damaged``."""
    from ..read.manager import read_archive

    for source in sources:
        def report(offset: int, skipped: int, reason: str, path: str = source.path) -> None:
            print(f"shoebox cat: {path} at byte {offset}: {reason}; skipped {skipped} bytes",
                  file=sys.stderr)
            damaged.append(path)

        yield from read_archive(source, lenient=lenient, report=report)


def run_cat(args: argparse.Namespace) -> int:
    """Run ``shoebox cat``."""
    patterns, directory, settings = reading_setup(args)
    if args.lenient is not None:
        settings["lenient"] = args.lenient
    conditions = _conditions(args.where)
    if args.follow or args.checkpoint:
        from ..cli._live import cat_live

        return cat_live(args, patterns, directory, settings, lambda records: _cat(
            args, records, conditions))
    sources = find(args, patterns, directory, settings)
    damaged: list[str] = []
    try:
        status = _cat(args, _records(sources, settings.get("lenient", False), damaged),
                      conditions)
    finally:
        release(sources)  # what finding the write order kept open and --limit left unread
    return EXIT_DATA if damaged and status == EXIT_OK else status


def _cat(args: argparse.Namespace, records: Iterable[tuple[dict[str, str], Any]],
         conditions: list[tuple[str, bool, str]]) -> int:
    """Print ``records`` as ``args`` asks; EXIT_OK, also when the reader of stdout went away."""
    if conditions:
        records = (
            record for record in records
            if all((record[0].get(key) == value) != negate for key, negate, value in conditions)
        )
    if args.limit is not None:
        records = itertools.islice(records, max(args.limit, 0))
    out = sys.stdout.buffer
    count = 0
    try:
        for metadata, payload in records:
            count += 1
            if args.count:
                continue
            if args.payload_only:
                out.write(payload if isinstance(payload, bytes) else payload.encode())
                out.write(b"\n")
            elif args.metadata_only:
                out.write(_dumps(metadata).encode() + b"\n")
            else:
                line = f'{{"metadata":{_dumps(metadata)},{_payload_field(payload)}}}\n'
                out.write(line.encode())
        if args.count:
            out.write(f"{count}\n".encode())
        out.flush()
    except BrokenPipeError:
        _silence_stdout()
    return EXIT_OK


def _silence_stdout() -> None:
    """After the reader of a pipe went away (``| head``): no error at interpreter exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else _when(seconds)


def _codec(info: Any) -> str:
    codec = info.codec or ("-" if info.format != "v1" else "v1")
    return f"{codec}+{info.compression}" if info.compression else codec


def run_ls(args: argparse.Namespace) -> int:
    """Run ``shoebox ls``."""
    from ..cli._progress import progress, wanted
    from ..read.inspection import describe_archive

    patterns, directory, settings = reading_setup(args)
    sources = find(args, patterns, directory, settings, in_progress=True)
    rows = []
    try:
        with progress(show=wanted(args.progress) and len(sources) > 1, total=len(sources),
                      unit="file", desc="ls") as bar:
            for source in sources:
                rows.append(describe_archive(source))
                bar.update(1)
    finally:
        release(sources)
    if args.json:
        for info in rows:
            print(json.dumps({**info.__dict__, "created": _iso(info.created),
                              "sealed": _iso(info.sealed)}))
    else:
        table = [("RECORDS", "BYTES", "CODEC", "STATE", "FROM", "TO", "FILE")]
        for info in rows:
            table.append((
                "?" if info.records is None else f"{info.records:,}",
                "?" if info.size is None else f"{info.size:,}",
                _codec(info),
                info.state,
                _when(info.created),
                _when(info.sealed),
                info.path + (f"  ({info.problem})" if info.problem else ""),
            ))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
        for row in table:
            cells = [cell.rjust(w) if i < 2 else cell.ljust(w)
                     for i, (cell, w) in enumerate(zip(row, widths))]
            print("  ".join([*cells, row[-1]]))
        records = sum(info.records or 0 for info in rows)
        size = sum(info.size or 0 for info in rows)
        print(f"{plural(len(rows), 'archive')}, {plural(records, 'record')}, "
              f"{plural(size, 'byte')}")
    return EXIT_DATA if any(info.damaged for info in rows) else EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Run ``shoebox verify``."""
    patterns, directory, settings = reading_setup(args)
    sources = find(args, patterns, directory, settings)
    total = sum(s.size or 0 for s in sources)
    try:
        damaged, records = _verify(args, sources, total)
    finally:
        release(sources)
    if not args.json:
        if damaged:
            say(args, f"{damaged} of {plural(len(sources), 'archive')} damaged "
                f"({plural(records, 'good record')} read)")
        else:
            say(args, f"{plural(len(sources), 'archive')}, {plural(records, 'record')}: every "
                "checksum is good")
    return EXIT_DATA if damaged else EXIT_OK


def _verify(args: argparse.Namespace, sources: list[Any], total: int) -> tuple[int, int]:
    """Verify each archive, printing a line per archive; ``(damaged archives, records)``."""
    from ..cli._progress import progress, wanted
    from ..read.inspection import verify_archive

    damaged = records = 0
    with progress(show=wanted(args.progress), total=total or None, unit="B", unit_scale=True,
                  desc="verify") as bar:
        for source in sources:
            verdict = verify_archive(source)
            bar.update(source.size or 0)
            records += verdict.records
            damaged += not verdict.ok
            if args.json:
                bar.write(json.dumps({
                    "path": verdict.path, "ok": verdict.ok, "records": verdict.records,
                    "in_progress": verdict.in_progress,
                    "damage": [d.__dict__ for d in verdict.damage],
                }))
            elif verdict.ok:
                if not args.quiet:
                    bar.write(f"ok       {verdict.path}  ({plural(verdict.records, 'record')})")
            else:
                for d in verdict.damage:
                    bar.write(f"DAMAGED  {d.path} at byte {d.offset}: {d.reason} "
                              f"({plural(d.skipped_bytes, 'byte')} skipped)")
    return damaged, records
