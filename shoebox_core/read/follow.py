"""Walking the archives of a pattern in write order, listing again as they come, and following
the one being written.

:class:`Follower` is the engine behind :class:`~.manager.ReadingRollManager`. It lists the
archives once, reads them in write order, and lists again whenever it has read every archive it
knows of: archives sealed meanwhile that come after the last one read are read too; the reader
ends (``None``) only when a fresh listing brings nothing new. Following, it also reads the complete
blocks of the file being written and, when there is nothing new, sleeps ``poll_interval`` and lists
again, until a deadline passes or :meth:`Follower.stop` is called.

Archives are known by identity (:attr:`~.sources.OpenedArchive.identity`), not by name: a file
renamed or compressed (``x.events.inprogress`` -> ``x.events`` -> ``x.events.zst``) while it is
read or before it is reached is found again under its new name and read on from the block where
reading stopped. One that is gone (shipped and deleted) is reported as a :class:`~.position.Gap`.

What it costs, per poll while nothing changes: one listing (``os.scandir`` of the directory, or one
LIST request on a bucket), nothing else. A file name not seen before costs one open to read its
header (on a bucket, one ranged GET of 64 KiB); the file being written costs one open per poll
in which its size grew, read from its last complete block (on a bucket, a ranged GET from there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from .._fsutil import INPROGRESS_SUFFIX
from .position import Batch, Gap, Position, read_source
from .sources import Source, headed, release, stem

__all__ = ["Follower"]

log = logging.getLogger("shoebox")

Key = tuple[int, int, str]
_STOP_CHECK = 0.05  # seconds: how soon a waiting follower notices stop()
_RELISTS = 10  # listings in a row a file may vanish from before it is left to the next poll
_GONE = "archive gone before it was read to its end (moved, shipped or deleted)"
_CHECKPOINT_GONE = ("the checkpoint's archive is gone (any records it held after the checkpoint "
                    "are not read); reading resumes with the next one")


@dataclass
class _Entry:
    """An archive in a listing: its place in write order, identity and file."""

    key: Key
    identity: str | None  # None: its header could not be read (yet)
    source: Source

    @property
    def in_progress(self) -> bool:
        return self.source.name.endswith(INPROGRESS_SUFFIX)


@dataclass
class _Place:
    """Where reading of one archive stopped: ``since`` records after the block at ``block``."""

    entry: _Entry
    block: int | None = None
    since: int = 0
    waiting: tuple[str, int | None] | None = None  # (path, size) when its tail was reached
    opened: bool = False  # its on_open callback ran


class Follower:
    """Batches of records of every archive ``find`` lists, in write order (see the module).

    ``find()`` lists the archives (as :func:`~.sources.find_sources` does); ``report(path,
    offset, skipped, reason)`` hears of damage a lenient reader skipped; ``on_open(path)`` /
    ``on_close(path)`` are called once per archive read; ``start_after`` resumes after a
    :class:`~.position.Position`. Archives it could not read to their end are in ``gaps``.
    """

    def __init__(
        self,
        find: Callable[[], list[Source]],
        *,
        follow: bool = False,
        poll_interval: float = 1.0,
        lenient: bool = False,
        report: Callable[[str, int, int, str], None] | None = None,
        on_open: Callable[[str], None] | None = None,
        on_close: Callable[[str], None] | None = None,
        start_after: Position | None = None,
    ) -> None:
        self._find = find
        self.follow = follow
        self.poll_interval = poll_interval
        self.lenient = lenient
        self._report = report
        self._on_open = on_open or (lambda path: None)
        self._on_close = on_close or (lambda path: None)
        self.gaps: list[Gap] = []
        self.files: list[Source] = []  # the latest listing, in write order
        self._heads: dict[str, tuple[Key, str]] = {}  # path -> (key, identity), read once
        self._queue: list[_Entry] = []
        self._after: Key | None = None  # archives up to this one are read
        self._place: _Place | None = None  # the archive being read
        self._reading: Generator[Batch, None, int | None] | None = None
        self._listed = False
        self._ever_listed = False
        self._trouble = False  # following: the store failed; wait a poll before trying again
        self._stopping = False  # stop(): a plain flag, as a signal handler may set it
        self._closed = threading.Event()  # close(), from any thread: wakes a wait at once
        self.batch: tuple[_Entry, int, int] | None = None  # the last batch's archive and place
        if start_after is not None:
            self._after = start_after.key
            entry = _Entry(start_after.key, start_after.archive, Source(start_after.name))
            self._place = _Place(entry, start_after.block, start_after.index)
        self._resuming = start_after is not None

    # -- listing -----------------------------------------------------------------------------
    def listed(self) -> list[Source]:
        """The latest listing, in write order (listing now if never listed)."""
        if not self._ever_listed:
            self._list()
        return self.files

    def _list(self) -> None:
        """List again: the archives after the last one read, in write order."""
        # A file listed before, unchanged: the same Source (and the handle kept open with it).
        known = {e.source.path: e.source for e in self._queue}
        for attempt in range(_RELISTS + 1):
            found = [known.get(s.path, s) if _same(known.get(s.path), s) else s
                     for s in self._find()]
            new = [s for s in found if s.path not in self._heads]
            vanished: list[Source] = []
            heads = headed(new, vanished=vanished)
            if not vanished or attempt == _RELISTS:
                break
            # A file was renamed (compressed) between the listing and reading its header: its
            # new name may have been missed. List again, or it would be skipped for good.
            release([source for _key, _identity, source in heads])
        seen = {s.path for s in found}
        entries: dict[str, _Entry] = {}
        for key, identity, source in heads:
            if identity is not None:
                self._heads[source.path] = (key, identity)
            entries[source.path] = _Entry(_stem_key(key, source), identity, source)
        for source in found:
            if source.path in self._heads and source.path not in entries:
                key, identity = self._heads[source.path]
                entries[source.path] = _Entry(_stem_key(key, source), identity, source)
        for path in [p for p in self._heads if p not in seen]:
            del self._heads[path]
        ordered = sorted(entries.values(), key=lambda e: (e.key, e.in_progress, e.source.path))
        self.files = [e.source for e in ordered]
        place = self._place
        queue: list[_Entry] = []
        identities: set[str] = set()
        for entry in ordered:
            if entry.identity is not None and entry.identity in identities:
                release([entry.source])  # a twin (x.events and x.events.zst): read one
                continue
            if entry.identity is None and (entry.in_progress or entry.source.size == 0):
                continue  # a file whose header is not written yet: next time
            if place is not None and entry.identity is not None and (
                entry.identity == place.entry.identity
            ):
                place.entry = entry
            elif (self._after is not None and entry.key <= self._after) or (
                place is not None and entry.key < place.entry.key
            ):  # read already, or sealed too late: it comes before the archive being read
                release([entry.source])
                continue
            identities.add(entry.identity or entry.source.path)
            queue.append(entry)
        if place is not None and not any(e is place.entry for e in queue):
            self._lose(place, _CHECKPOINT_GONE if self._resuming else _GONE)
        self._resuming = False
        kept = {id(s) for s in found}
        release([e.source for e in self._queue if id(e.source) not in kept])
        self._queue = queue
        self._listed = self._ever_listed = True

    def _lose(self, place: _Place, reason: str) -> None:
        entry = place.entry
        gap = Gap(entry.source.path, entry.identity or "", place.block or 0, reason)
        log.warning("shoebox: %s: %s", entry.source.path, reason)
        self.gaps.append(gap)
        self._done(place)

    def _done(self, place: _Place) -> None:
        self._after = place.entry.key if self._after is None else max(self._after, place.entry.key)
        if place.opened:
            self._on_close(place.entry.source.path)
        self._place = None

    # -- reading -----------------------------------------------------------------------------
    def _start(self, entry: _Entry) -> None:
        place = self._place
        if place is None or place.entry is not entry:
            place = self._place = _Place(entry)
        if not place.opened:
            place.opened = True
            self._on_open(entry.source.path)
        self._reading = self._read(place)

    def _read(self, place: _Place) -> Generator[Batch, None, int | None]:
        entry = place.entry
        path = entry.source.path

        def report(offset: int, skipped: int, reason: str) -> None:
            if self._report is not None:
                self._report(path, offset, skipped, reason)

        return (yield from read_source(
            entry.source, block=place.block, skip=place.since, lenient=self.lenient,
            report=report, in_progress=entry.in_progress,
        ))

    def next_batch(self, deadline: float | None = None) -> Batch | None:
        """The next batch of records (with where it is); None when there is none: not following,
        a fresh listing found nothing new; following, ``deadline`` (of ``time.monotonic()``)
        passed or :meth:`stop` was called."""
        self._listed = False
        while not self._stopping:
            if self._reading is not None:
                if (got := self._step()) is not None:
                    return got
                continue
            head = self._queue[0] if self._queue else None
            place = self._place
            if head is not None and not self._trouble and not (
                # the file being written has not grown since its tail was reached
                place is not None and place.entry is head
                and place.waiting == (head.source.path, head.source.size)
            ):
                self._start(head)
                continue
            if not self._listed:
                self._relist()
                continue
            if not self.follow:
                return None
            wait = self.poll_interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            # In slices: stop() only sets a flag (a signal handler must not take the Event's
            # lock, which the interrupted thread may hold).
            end = time.monotonic() + wait
            while not self._stopping and (left := end - time.monotonic()) > 0:
                self._closed.wait(min(left, _STOP_CHECK))
            if self._stopping:
                return None
            self._listed = self._trouble = False
        return None

    def _relist(self) -> None:
        try:
            self._list()
        except Exception as exc:
            if not self.follow:
                raise
            self._unreachable("cannot list the archives", exc)

    def _unreachable(self, what: str, exc: BaseException) -> None:
        """Following, a store that is down or slow is normal life: say so, try again next poll."""
        log.warning("shoebox: %s (%s: %s); trying again in %gs", what, type(exc).__name__, exc,
                    self.poll_interval)
        self._listed = self._trouble = True

    def _step(self) -> Batch | None:
        """One batch of the file being read, or None once it is read as far as it goes."""
        place = self._place
        assert self._reading is not None and place is not None
        try:
            block, since, records = next(self._reading)
        except StopIteration as stop:
            self._reading = None
            tail = stop.value
            if tail is None or not self.follow:
                self._queue.remove(place.entry)
                self._done(place)
            else:  # the file being written: read on from its tail once it grows
                place.block, place.since = tail, 0
                place.waiting = (place.entry.source.path, place.entry.source.size)
            return None
        except FileNotFoundError:
            # Renamed (compressed) or deleted since it was listed: find it again, by identity.
            self._reading = None
            place.waiting = None
            self._relist()
            return None
        except OSError as exc:
            self._reading = None
            if not self.follow:
                raise
            self._unreachable(f"cannot read {place.entry.source.path}", exc)
            return None
        except BaseException:
            self._reading = None
            raise
        place.block, place.since = block, since + len(records)
        place.waiting = None
        self.batch = (place.entry, block, since)
        self._listed = False  # progress: the next time nothing is left, list again
        return block, since, records

    def position(self, consumed: int) -> Position | None:
        """The position of the last record returned, ``consumed`` records into the last batch."""
        if self.batch is None:
            return None
        entry, block, since = self.batch
        created_ns, seq, name = entry.key
        return Position(entry.identity or "name:" + name, created_ns, seq, name, block,
                        since + consumed)

    def stop(self) -> None:
        """Make :meth:`next_batch` return None (a waiting one within 50 ms); safe from a signal
        handler."""
        self._stopping = True

    def close(self) -> None:
        """Stop, close the file being read (its on_close runs) and any kept open."""
        self._stopping = True
        self._closed.set()
        if self._reading is not None:
            self._reading.close()
            self._reading = None
        if self._place is not None and self._place.opened:
            self._place.opened = False
            self._on_close(self._place.entry.source.path)
        release([e.source for e in self._queue])


def _stem_key(key: Key, source: Source) -> Key:
    """Write order that does not change when the file is renamed or compressed."""
    return (key[0], key[1], stem(source.name))


def _same(before: Source | None, now: Source) -> bool:
    return before is not None and before.size == now.size
