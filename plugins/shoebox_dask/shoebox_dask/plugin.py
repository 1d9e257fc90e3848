"""The shoebox plugin of shoebox-dask, found through its ``shoebox`` entry point.

It adds one command, ``shoebox dask-count``: count the records of archives (in total, or per
value of a metadata field) in parallel on Dask, on a local cluster of worker processes or on a
running scheduler (``--scheduler tcp://host:8786``). Its Python API is :mod:`shoebox_dask`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shoebox_core.plugin import Subcommand, hookimpl

__all__ = ["shoebox_subcommands"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="archives: paths, patterns, directories, URLs")
    parser.add_argument("--by", metavar="FIELD", help="count per value of this metadata field")
    parser.add_argument("--lenient", action="store_true",
                        help="skip damaged blocks (and report them) instead of failing")
    parser.add_argument("--blocksize", default="64 MiB",
                        help="bytes per partition of a big uncompressed archive (default 64 MiB)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask scheduler; default: a local cluster")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the local cluster (default: one per CPU)")


def _count(args: argparse.Namespace) -> int:
    import dask
    from distributed import Client, LocalCluster

    from . import read_archives

    bag, damage = read_archives(args.paths, lenient=args.lenient, blocksize=args.blocksize,
                                with_damage=True)
    if args.by:
        field = args.by
        counted: Any = bag.map(lambda r: r[0].get(field)).frequencies()
    else:
        counted = bag.count()
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        result, skipped = dask.compute(counted, damage)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if args.by:
        for value, n in sorted(result, key=lambda item: (-item[1], str(item[0]))):
            print(json.dumps({args.by: value, "records": n}))
    else:
        print(json.dumps({"records": result}))
    for d in skipped:
        print(f"shoebox: skipped {d.skipped_bytes} bytes of {d.path} at byte {d.offset}: "
              f"{d.reason}", file=sys.stderr)
    return 0


@hookimpl
def shoebox_subcommands() -> list[Subcommand]:
    """Offer ``shoebox dask-count``."""
    return [
        Subcommand("dask-count", "Count records (or records per metadata value) on Dask.",
                   _count, _configure)
    ]
