"""``shoebox cat --follow`` and ``--checkpoint``: printing records as they are flushed, and
resuming where the last run stopped.

The position saved in the checkpoint file never runs ahead of what was printed: stdout is flushed
before each save. So a run killed with SIGKILL prints again at most what it printed since its last
save (every second and whenever it waits for records), and a run stopped by Ctrl-C or SIGTERM
saves the position of its last printed record and exits 0: restarted, it prints every record
exactly once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..cli._common import EXIT_DATA, EXIT_USAGE, CommandError
from ..errors import NoMoreFiles

__all__ = ["cat_live"]

Record = tuple[dict[str, str], Any]
_SAVE_EVERY = 1.0  # seconds between checkpoint saves while records keep coming
_CHECK_EVERY = 1024  # records between looks at the clock


def cat_live(
    args: argparse.Namespace,
    patterns: list[str],
    directory: str,
    settings: dict[str, Any],
    show: Callable[[Iterable[Record]], int],
) -> int:
    """Run ``shoebox cat`` with ``--follow`` and/or ``--checkpoint``; ``show(records)`` prints."""
    from ..read.manager import ReadingRollManager
    from ..read.position import load_position

    if len(patterns) != 1:
        raise CommandError("--follow and --checkpoint read one PATTERN, not "
                           f"{len(patterns)}", EXIT_USAGE)
    if not args.poll_interval > 0:
        raise CommandError(f"--poll-interval {args.poll_interval} is not a positive number of "
                           "seconds", EXIT_USAGE)
    start = load_position(args.checkpoint) if args.checkpoint else None
    reader = ReadingRollManager(
        patterns[0], directory, lenient=settings.get("lenient", False),
        include_in_progress=settings.get("include_in_progress", False),
        storage_options=settings.get("storage_options"), follow=args.follow,
        poll_interval=args.poll_interval, start_after=start,
    )
    live = _Live(reader, args.checkpoint, args.poll_interval)
    previous = {sig: signal.signal(sig, live.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = show(live.records())
    finally:
        try:
            live.save()
            reader.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    live.tell()
    return EXIT_DATA if reader.damage or reader.gaps else status


class _Live:
    """The records of a reader, with the checkpoint saved as they go."""

    def __init__(self, reader: Any, checkpoint: str | None, poll_interval: float) -> None:
        self.reader = reader
        self.checkpoint = checkpoint
        self.poll_interval = poll_interval
        self.stopping = False
        self.saved: Any = object()  # what the checkpoint file holds
        self.told = (0, 0)  # damage and gaps already reported on stderr

    def stop(self, _signum: int = 0, _frame: Any = None) -> None:
        """Ctrl-C or SIGTERM: stop after the record being printed."""
        self.stopping = True
        self.reader.stop()

    def records(self) -> Iterator[Record]:
        reader = self.reader
        last = time.monotonic()
        n = 0
        while not self.stopping:
            try:
                record = reader.read(timeout=self.poll_interval)
            except NoMoreFiles:
                self.tell()
                if not reader.follow or self.stopping:
                    return
                self.save()  # idle: what was printed is shown, and saved
                continue
            yield record
            n += 1
            if n % _CHECK_EVERY == 0 and time.monotonic() - last >= _SAVE_EVERY:
                self.save()
                last = time.monotonic()

    def save(self) -> None:
        """Flush stdout, then save the position of the last record printed (if it moved)."""
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return
        position = self.reader.position
        if self.checkpoint is None or position is None or position == self.saved:
            return
        from ..read.position import save_position

        save_position(self.checkpoint, position)
        self.saved = position

    def tell(self) -> None:
        """Report new damage and gaps on stderr."""
        damage, gaps = self.reader.damage, self.reader.gaps
        for d in damage[self.told[0]:]:
            print(f"shoebox cat: {d.path} at byte {d.offset}: {d.reason}; skipped "
                  f"{d.skipped_bytes} bytes", file=sys.stderr)
        for g in gaps[self.told[1]:]:
            print(f"shoebox cat: {g.path}: {g.reason}", file=sys.stderr)
        self.told = (len(damage), len(gaps))
