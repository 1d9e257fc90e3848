"""The ``shoebox`` command."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _demo(args: argparse.Namespace) -> int:
    """Write the built-in sample through a rolling, compressing pipeline, then read it back."""
    from .compression import ZstdCallback
    from .reader import ReadingRollManager
    from .roll_checker import SizeRollChecker
    from .sample import notifications
    from .writer import WritingRollManager

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
                return EXIT_FAILED
            read_back += 1
    took = time.perf_counter() - start
    stored = sum(os.path.getsize(s.path) for s in reader.files)
    print(f"read back {read_back:,} records from {len(reader.files)} files in {took:.2f} s; "
          f"on disk {stored / 1e6:.1f} MB ({payload_bytes / max(stored, 1):.1f}x smaller than "
          "the payloads)")
    if read_back != len(records):
        print(f"expected {len(records):,} records, read {read_back:,}", file=sys.stderr)
        return EXIT_FAILED
    print("every record came back equal and in order")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``shoebox`` command."""
    parser = argparse.ArgumentParser(
        prog="shoebox", description="Archive records into rolling, checksummed files."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``shoebox`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
