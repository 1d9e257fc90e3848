"""``shoebox store``: init, put, get, cat, ls, query, rm, compact and verify a store.

STORE is a local directory or a URL; its kind is recognised from what is there (``--kind`` says
which kind ``init`` makes). Errors are one line on stderr and an exit status, as in the other
``shoebox`` subcommands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from types import SimpleNamespace
from typing import Any

from .errors import InvalidKey
from .events import StoreProgressEndEvent, StoreProgressStartEvent, StoreProgressStepEvent
from .opening import KINDS, create_store, open_store

__all__ = ["configure_parser", "run"]

# The exit statuses of the shoebox command (see `shoebox --help`).
EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_NO_MATCH = 0, 1, 2, 4
_READONLY = {"get", "cat", "ls", "query", "verify"}


def _pairs(items: list[str], what: str) -> dict[str, Any]:
    """``NAME=VALUE`` arguments; a VALUE that is JSON (``3``, ``true``, ``[1]``) is taken as
    such, anything else as a string."""
    found: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise InvalidKey(item, f"{what} must be NAME=VALUE")
        try:
            found[name] = json.loads(text)
        except ValueError:
            found[name] = text
    return found


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``store`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=summary)
        p.add_argument("store", metavar="STORE", help="a directory or a URL (s3://, memory://..)")
        p.add_argument("--magic-fname", default=".FSStore",
                       help="the magic file of a FileSystemStore (default: %(default)s)")
        p.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                       help="an fsspec option for a URL (repeatable)")
        p.set_defaults(store_action=name)
        return p

    init = action("init", "Make a new store (an existing one is left as it is).")
    init.add_argument("--kind", choices=KINDS, default=None,
                      help="archive (default for a directory) or filesystem (encore's layout; "
                      "the only kind for a URL)")
    put = action("put", "Store a file (or stdin) under a key.")
    put.add_argument("key")
    put.add_argument("source", nargs="?", default="-", help="a file, or - for stdin (default)")
    put.add_argument("-m", "--meta", action="append", default=[], metavar="NAME=VALUE",
                     help="a metadata item (VALUE parsed as JSON when it is JSON; repeatable)")
    put.add_argument("--meta-json", help="the whole metadata as a JSON object")
    for p in (put, action("get", "Write a key's data to a file (or stdout).")):
        p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar for large values (default: on a terminal)")
    get = sub.choices["get"]
    get.add_argument("key")
    get.add_argument("target", nargs="?", default="-", help="a file, or - for stdout (default)")
    action("cat", "Write a key's data to stdout.").add_argument("key")
    ls = action("ls", "List keys (sorted), optionally matching a glob pattern.")
    ls.add_argument("pattern", nargs="?", default="*")
    ls.add_argument("-l", "--long", action="store_true", help="size, modified time, metadata")
    query = action("query", "Print key and metadata (JSON lines) of keys whose metadata match.")
    query.add_argument("where", nargs="*", metavar="NAME=VALUE")
    query.add_argument("--select", action="append", metavar="NAME",
                       help="return only these metadata names (repeatable)")
    query.add_argument("--keys", action="store_true", help="print the keys only")
    action("rm", "Delete keys.").add_argument("keys", nargs="+", metavar="KEY")
    action("compact", "Rewrite an archive store without superseded values and tombstones.")
    action("verify", "Check every stored byte and value; exit status 1 on damage.")


def _progress_bar(store: Any, args: argparse.Namespace) -> None:
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    if not show:
        return
    from tqdm import tqdm

    bars: dict[int, Any] = {}

    def on_event(event: Any) -> None:
        if isinstance(event, StoreProgressStartEvent):
            bars[event.operation_id] = tqdm(total=event.steps if event.steps >= 0 else None,
                                            unit="B", unit_scale=True, desc=event.key,
                                            file=sys.stderr, leave=False)
        elif isinstance(event, StoreProgressStepEvent) and event.operation_id in bars:
            bar = bars[event.operation_id]
            bar.update(event.step - bar.n)
        elif isinstance(event, StoreProgressEndEvent) and event.operation_id in bars:
            bars.pop(event.operation_id).close()

    for cls in (StoreProgressStartEvent, StoreProgressStepEvent, StoreProgressEndEvent):
        store.event_manager.connect(cls, on_event)


def run(args: argparse.Namespace) -> int:
    """Run one ``shoebox store`` action; returns the exit status."""
    name = args.store_action
    options = _pairs(args.storage_option, "--storage-option")
    try:
        if name == "init":
            kind = args.kind or ("filesystem" if "://" in args.store else "archive")
            store = create_store(args.store, kind, magic_fname=args.magic_fname,
                                 storage_options=options)
        else:
            store = open_store(args.store, readonly=name in _READONLY,
                               magic_fname=args.magic_fname, storage_options=options)
        try:
            return _ACTIONS[name](store, args)
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
    except KeyError as exc:
        print(f"shoebox store {name}: no key {exc.args[0]!r} in {args.store}", file=sys.stderr)
        return EXIT_NO_MATCH
    except (InvalidKey, TypeError) as exc:
        print(f"shoebox store {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _init(store: Any, args: argparse.Namespace) -> int:
    print(f"{store.kind} store at {args.store}")
    return EXIT_OK


def _put(store: Any, args: argparse.Namespace) -> int:
    metadata = json.loads(args.meta_json) if args.meta_json else {}
    metadata.update(_pairs(args.meta, "--meta"))
    _progress_bar(store, args)
    source = sys.stdin.buffer if args.source == "-" else open(args.source, "rb")  # noqa: SIM115
    try:
        size = os.fstat(source.fileno()).st_size if args.source != "-" else -1
    except (OSError, ValueError):
        size = -1
    # A value with a size: the progress bar knows the total.
    store.set(args.key, SimpleNamespace(data=source, metadata=metadata, size=size))
    return EXIT_OK


def _get(store: Any, args: argparse.Namespace) -> int:
    _progress_bar(store, args)
    if args.target != "-":
        store.to_file(args.key, args.target)
        return EXIT_OK
    return _cat(store, args)


def _cat(store: Any, args: argparse.Namespace) -> int:
    value = store.get(args.key)
    out = sys.stdout.buffer
    with value:
        for chunk in value.iterdata():
            out.write(chunk)
    out.flush()
    return EXIT_OK


def _ls(store: Any, args: argparse.Namespace) -> int:
    for key in sorted(store.glob(args.pattern)):
        if args.long:
            value = store.get(key)
            value.close()
            print(f"{value.size:>12}  {value.modified or 0:17.6f}  {key}  "
                  f"{json.dumps(value.metadata, ensure_ascii=False)}")
        else:
            print(key)
    return EXIT_OK


def _query(store: Any, args: argparse.Namespace) -> int:
    where = _pairs(args.where, "a query term")
    if args.keys:
        for key in sorted(store.query_keys(**where)):
            print(key)
        return EXIT_OK
    for key, metadata in sorted(store.query(args.select, **where), key=lambda kv: kv[0]):
        print(json.dumps({"key": key, "metadata": metadata}, ensure_ascii=False))
    return EXIT_OK


def _rm(store: Any, args: argparse.Namespace) -> int:
    missing = [key for key in args.keys if not store.exists(key)]
    if missing:
        raise KeyError(missing[0])
    with store.transaction(f"shoebox store rm {len(args.keys)} keys"):
        for key in args.keys:
            store.delete(key)
    return EXIT_OK


def _compact(store: Any, args: argparse.Namespace) -> int:
    if store.kind != "archive":
        print(f"shoebox store compact: {args.store} is a {store.kind} store; only archive "
              "stores are compacted", file=sys.stderr)
        return EXIT_USAGE
    done = store.compact()
    print(f"compacted {args.store}: {done['before']:,} -> {done['after']:,} bytes in "
          f"{done['archives']} archive(s)")
    return EXIT_OK


def _verify(store: Any, args: argparse.Namespace) -> int:
    if store.kind == "archive":
        problems = store.verify()
    else:
        problems = []
        for key in sorted(store.query_keys()):
            try:
                with store.get(key) as data:
                    while data.read(1 << 20):
                        pass
            except Exception as exc:  # a damaged key is reported, the others still checked
                problems.append(f"key {key!r}: {exc}")
    for problem in problems:
        print(f"shoebox store verify: {problem}", file=sys.stderr)
    if problems:
        return EXIT_DATA
    print(f"{args.store}: every value is readable and every checksum good")
    return EXIT_OK


_ACTIONS = {"init": _init, "put": _put, "get": _get, "cat": _cat, "ls": _ls, "query": _query,
            "rm": _rm, "compact": _compact, "verify": _verify}
