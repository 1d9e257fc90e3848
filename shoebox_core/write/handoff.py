"""The hand-off of sealed archives from the writer to their on-close chain.

:class:`Handoff` holds the writer's :class:`~shoebox_core.ship.chain.ShippingChain` and, when the
chain runs in the background, its :class:`~shoebox_core.ship.background.BackgroundCloser`. It runs
``on_open`` when a file starts, hands each sealed file over (queued, or run at once), resumes after
a restart what dead writers left (recovery of in-progress files, then journaled chains not
finished) and keeps the callback errors until the writer's ``close()`` raises them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from ..clock import Clock
from ..errors import BacklogFull, CallbackError
from ..ship.background import BackgroundCloser, RetryPolicy
from ..ship.chain import ShippingChain, ShippingStats, pending_archives
from .recovery import Recovered, recover_directory

__all__ = ["Handoff"]

log = logging.getLogger("shoebox")


class Handoff:
    """Run the on-close chain of ``archive_callback`` for the files a writer seals.

    ``background``, ``max_backlog``, ``when_full``, ``retry`` and ``on_shipping_event`` are the
    writer's options of the same names (see
    :class:`~shoebox_core.write.manager.WritingRollManager`).
    """

    def __init__(
        self,
        archive_callback: Any,
        *,
        clock: Clock,
        background: bool,
        max_backlog: int,
        when_full: str,
        retry: RetryPolicy | Mapping[str, Any] | None,
        on_shipping_event: Any,
    ) -> None:
        # Journals each sealed file's on-close progress next to it, so a restart resumes it.
        self.chain = ShippingChain(archive_callback, clock=clock)
        # Retried by default only when a step says its failures are usually transient (uploads).
        if retry is None and any(getattr(cb, "transient_failures", False) for cb in self.chain):
            retry = RetryPolicy()
        self.closer: BackgroundCloser | None = (
            BackgroundCloser(self.chain.on_close, max_backlog=max_backlog, when_full=when_full,
                             monotonic=clock.monotonic, retry=retry, on_event=on_shipping_event)
            if background and len(self.chain)
            else None
        )
        self.errors: list[CallbackError] = []

    def opened(self, name: str) -> None:
        """Run ``on_open`` for a file that starts."""
        self._run("on_open", name)

    def hand_over(self, final: str, *, resumed: bool = False) -> str:
        """Give a sealed file to its on-close chain: queued for the worker, or run now; return
        its name after the chain (the same when queued).

        Files ``resumed`` after a restart are queued even beyond the backlog bound (they are on
        disk already); later rolls then wait for room.
        """
        if self.closer is None:
            return self._run("on_close", final)
        try:
            # Blocks while the backlog is full (when_full="block").
            self.closer.submit(final, force=resumed)
        except BacklogFull:
            # The file is sealed and deferred (queued once there is room); the records that
            # sealed it are stored, so the writer must not raise: check_room() refuses the next.
            log.info("shoebox: %s waits for room in the shipping backlog", final)
        return final

    def check_room(self) -> None:
        """Raise BacklogFull while ``when_full="raise"`` and the backlog is full: called before
        a record is stored, so the exception means "not stored"."""
        closer = self.closer
        if closer is None or closer.when_full != "raise":
            return
        backlog = closer.stats().backlog
        if backlog >= closer.max_backlog:
            raise BacklogFull(
                f"{backlog} sealed files are waiting for their on-close chain "
                f"(max_backlog={closer.max_backlog}); the record was not stored: write it "
                "again once the backlog drains"
            )

    def _run(self, hook: str, name: str) -> str:
        try:
            if hook == "on_open":
                self.chain.on_open(name)
                return name
            return self.chain.on_close(name)
        except CallbackError as exc:
            # The record that triggered the roll is safe in the sealed file: report, don't raise
            # from write() (a caller retrying would duplicate it). close() raises them.
            self.errors.append(exc)
            return exc.path

    def recover(
        self, directory: str, pattern: re.Pattern[str] | None, clock: Clock
    ) -> list[Recovered]:
        """Seal the in-progress files that dead writers matching ``pattern`` left in
        ``directory`` and hand them over; then resume the chains their journals say a dead
        process did not finish. Returns what recovery found."""
        found = recover_directory(directory, pattern=pattern, clock=clock)
        handed = set()
        for item in found:
            if item.sealed is not None:
                self.hand_over(item.sealed, resumed=True)
                handed.add(os.path.abspath(item.sealed))
        if self.chain.journaled:
            # Killed between steps, or given up on: resumed at their first step not done.
            foreign: list[tuple[str, str]] = []
            for archive in pending_archives(directory, pattern=pattern, foreign=foreign):
                if archive not in handed:
                    self.hand_over(archive, resumed=True)
            if foreign:
                # Another host may share this directory and be shipping them: never taken
                # silently (see `shoebox recover --take-over HOST`).
                hosts = sorted({host for _, host in foreign})
                log.warning(
                    "shoebox: %d sealed archive(s) in %s have on-close steps pending under host "
                    "%s, not this one (%s); left alone: if that host is gone (renamed), run "
                    "shoebox recover --take-over %s", len(foreign), directory,
                    ", ".join(hosts), foreign[0][0], hosts[0])
        return found

    def close(self, timeout: float | None, directory: str) -> None:
        """Wait (up to ``timeout``) for the queued chains, then raise the callback errors so far,
        if any (one CallbackError: the first, or one that counts them), and forget them."""
        if self.closer is not None:
            if not self.closer.close(timeout):
                log.warning(
                    "shoebox: close_timeout (%s s) ran out with %d sealed files not shipped; they "
                    "stay in %s with their journals and resume at the next start",
                    timeout, len(self.closer.pending()), directory,
                )
            self.errors.extend(self.closer.errors)
            self.closer.errors = []
        errors, self.errors = self.errors, []
        if not errors:
            return
        first = errors[0]
        if len(errors) == 1:
            raise first
        raise CallbackError(
            f"{len(errors)} callback failures; first: {first}",
            callback=first.callback,
            path=first.path,
            skipped=first.skipped,
        ) from first

    def stats(self, sealed: int) -> ShippingStats:
        """The chain's counters; ``sealed`` is how many files the writer sealed (what a chain run
        in the foreground reports as files done, its failures aside)."""
        files, size, present = self.chain.transfer_stats()
        if self.closer is None:
            return ShippingStats(files_done=sealed - len(self.errors),
                                 files_failed=len(self.errors), shipped_files=files,
                                 shipped_bytes=size, already_present=present)
        stats = self.closer.stats()
        return ShippingStats(
            files_done=stats.done,
            files_failed=stats.failed,
            retries=stats.retries,
            backlog=stats.backlog,
            oldest_age=stats.oldest_age,
            shipped_files=files,
            shipped_bytes=size,
            already_present=present,
        )
