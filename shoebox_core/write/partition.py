"""Write-side partitioning: one active archive per value of the partition fields.

``WritingRollManager(..., partition_by=["event_type"])`` (or ``partition_by = ["event_type"]``
under ``[writer]``) routes each record to the archive of its partition, so every archive holds
records of one partition only and an object name made from its first record
(``{event_type}/%Y/%m/%d/{name}``) is true for all of them, as Kafka Connect's field partitioner
and Logstash's prefixes give. Open partitions are bounded: when a record of a new partition would
open more than ``max_partitions`` archives, the least recently written one is sealed first.

Each partition is written by its own :class:`~shoebox_core.write.manager.WritingRollManager`
(its own roll checkers, a shallow copy of those given, so that per-file state stays per file),
all in one directory, with one template and one ``{seq}`` counter, and the same on-close chain.
Only the first one recovers what a dead writer left: the others would find their siblings'
files, not a dead writer's. Readers and recovery need nothing special: the archives are ordinary
files of the template, ordered by their creation time.
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from ..errors import CallbackError, ConfigError, ShoeboxError

__all__ = ["PartitionedWriter", "partition_fields"]


def partition_fields(partition_by: object) -> tuple[str, ...]:
    """``partition_by`` checked: a field name or a list of them (metadata keys)."""
    names = (partition_by,) if isinstance(partition_by, str) else partition_by
    if not isinstance(names, (list, tuple)) or not names or not all(
        isinstance(n, str) and n for n in names
    ):
        raise ConfigError("partition_by must be a metadata field name or a list of them, e.g. "
                          f'["event_type"]; got {partition_by!r}')
    return tuple(names)


class _SharedSeqNamer:
    """A namer handing out one ``{seq}`` sequence to every partition's writer."""

    def __init__(self, namer: Any, counter: Any) -> None:
        self._namer = namer
        self._counter = counter

    def name(self, *, when: float, seq: int) -> str:
        return self._namer.name(when=when, seq=self._counter())

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._namer, attribute)


class PartitionedWriter:
    """Writes records to one archive per partition (see the module docstring); used through
    ``WritingRollManager(..., partition_by=...)``, which returns one."""

    def __init__(
        self,
        filename_template: str,
        roll_checker: Any,
        directory: str = ".",
        archive_callback: Any = None,
        *,
        partition_by: Sequence[str] | str,
        max_partitions: int = 16,
        namer: Any = None,
        **options: Any,
    ) -> None:
        from ..write.manager import WritingRollManager
        from ..write.naming import TemplateNamer

        self.partition_by = partition_fields(partition_by)
        if isinstance(max_partitions, bool) or not isinstance(max_partitions, int) \
                or max_partitions < 1:
            raise ConfigError(f"max_partitions must be an integer of at least 1, got "
                              f"{max_partitions!r}")
        self.max_partitions = max_partitions
        self.filename_template = filename_template
        self.roll_checker = roll_checker
        self.archive_callback = archive_callback
        metrics_port = options.pop("metrics_port", None)  # one endpoint for all partitions
        self._options = options
        self._directory_arg = directory
        self._namer = namer if namer is not None else TemplateNamer(template=filename_template)
        self._seq: int | None = None
        self._seq_lock = threading.Lock()
        self._lock = threading.RLock()
        self._writers: OrderedDict[tuple[str, ...], WritingRollManager] = OrderedDict()
        self._retired: list[WritingRollManager] = []
        self._closed = False
        # The first partition's writer, made now: it checks the options and, on its first file,
        # recovers what dead writers left (see _writer).
        self._first: WritingRollManager | None = self._new_writer(recover=True)
        self.directory = self._first.directory
        self.namer = self._first.namer
        self.metrics_server = None
        if metrics_port is not None:
            from ..metrics import serve_metrics

            self.metrics_server = serve_metrics(self, metrics_port)

    # -- partitions -----------------------------------------------------------------------------
    def _next_seq(self) -> int:
        with self._seq_lock:
            if self._seq is None:
                try:
                    names = os.listdir(self.directory)
                except FileNotFoundError:
                    names = []
                next_seq = getattr(self._namer, "next_seq", None)
                self._seq = next_seq(names) if next_seq is not None else 0
            seq = self._seq
            self._seq += 1
            return seq

    def _new_writer(self, *, recover: bool) -> Any:
        from ..write.manager import WritingRollManager

        checkers = self.roll_checker
        if isinstance(checkers, (list, tuple)):
            checkers = [copy.copy(c) for c in checkers]
        elif checkers is not None:
            checkers = copy.copy(checkers)
        options = dict(self._options)
        options["recover"] = bool(options.get("recover", True)) and recover
        return WritingRollManager(
            self.filename_template, checkers, self._directory_arg, self.archive_callback,
            namer=_SharedSeqNamer(self._namer, self._next_seq), **options,
        )

    def partition_of(self, metadata: dict[str, str]) -> tuple[str, ...]:
        """The partition key of a record: its values of the ``partition_by`` fields ("" when
        missing)."""
        return tuple(metadata.get(name, "") for name in self.partition_by)

    def _writer(self, key: tuple[str, ...]) -> Any:
        """The writer of partition ``key`` (lock held), made or revived as needed, after sealing
        the least recently written partition if one more would exceed ``max_partitions``."""
        writer = self._writers.get(key)
        if writer is not None:
            self._writers.move_to_end(key)
            return writer
        while len(self._writers) >= self.max_partitions:
            _, oldest = self._writers.popitem(last=False)
            oldest.roll()  # sealed and handed to its chain; the writer ships it meanwhile
            self._retired.append(oldest)
        writer, self._first = self._first, None
        if writer is None:
            writer = self._reuse() or self._new_writer(recover=False)
        self._writers[key] = writer
        return writer

    def _reuse(self) -> Any:
        """A retired writer with nothing left to ship, if any (bounds the threads kept)."""
        for index, writer in enumerate(self._retired):
            if writer.shipping_stats().backlog == 0:
                return self._retired.pop(index)
        return None

    @property
    def _all(self) -> list[Any]:
        first = [self._first] if self._first is not None else []
        return [*first, *self._writers.values(), *self._retired]

    # -- writing --------------------------------------------------------------------------------
    def write(self, metadata: dict[str, str], payload: str | bytes) -> None:
        """Append one record to the archive of its partition (see ``WritingRollManager.write``)."""
        with self._lock:
            if self._closed:
                raise ShoeboxError("write() on a closed WritingRollManager")
            if not isinstance(metadata, dict):
                raise TypeError(f"metadata must be a dict of str to str, got "
                                f"{type(metadata).__name__}")
            self._writer(self.partition_of(metadata)).write(metadata, payload)

    def write_many(self, records: Iterable[tuple[dict[str, str], str | bytes]]) -> None:
        """Write each record, in order; runs of one partition go in one batch."""
        with self._lock:
            if self._closed:
                raise ShoeboxError("write_many() on a closed WritingRollManager")
            for key, run in itertools.groupby(
                records, key=lambda r: self.partition_of(r[0]) if isinstance(r[0], dict) else ()
            ):
                self._writer(key).write_many(run)

    def flush(self) -> None:
        """Make every record written so far durable, in every partition."""
        with self._lock:
            for writer in self._writers.values():
                writer.flush()

    def roll(self) -> str | None:
        """Seal every open partition's archive now; return the last final name."""
        with self._lock:
            names = [writer.roll() for writer in self._writers.values()]
        return next((n for n in reversed(names) if n is not None), None)

    def tick(self) -> float:
        """Fire due time-based rolls and flushes in every partition (their timers call this
        themselves; tests with a fake clock may call it); seconds until the next is due."""
        with self._lock:
            waits = [writer.tick() for writer in self._writers.values()]
        return min(waits, default=float(self._options.get("tick_interval", 1.0)))

    def close(self) -> None:
        """Seal every partition's archive, run the chains, stop; raises the first
        :class:`CallbackError` once every writer is closed."""
        with self._lock:
            self._closed = True
            errors: list[CallbackError] = []
            for writer in self._all:
                try:
                    writer.close()
                except CallbackError as exc:
                    errors.append(exc)
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        if errors:
            raise errors[0]

    def start(self) -> None:
        """Recover what dead writers left and resume pending chains now (see
        ``WritingRollManager.start``): the job of the first partition's writer."""
        with self._lock:
            first = self._first if self._first is not None else next(iter(self._all), None)
            if first is not None:
                first.start()

    def counters(self) -> dict[str, int]:
        """``records``, ``bytes`` and ``files`` summed over the partitions (for metrics)."""
        totals = {"records": 0, "bytes": 0, "files": 0}
        for writer in self._all:
            for key, value in writer.counters().items():
                totals[key] += value
        return totals

    # -- what was done --------------------------------------------------------------------------
    @property
    def sealed(self) -> list[str]:
        """The final names of the files sealed so far, every partition's."""
        return [name for writer in self._all for name in writer.sealed]

    @property
    def recovered(self) -> list[Any]:
        """What recovery found when the first file opened."""
        return [item for writer in self._all for item in writer.recovered]

    @property
    def callback_errors(self) -> list[CallbackError]:
        """Callback failures not yet raised by ``close()``, every partition's."""
        return [error for writer in self._all for error in writer.callback_errors]

    @property
    def closers(self) -> list[Any]:
        """The background shipping workers, one per partition's writer that has one."""
        return [writer.closer for writer in self._all if writer.closer is not None]

    @property
    def open_partitions(self) -> list[tuple[str, ...]]:
        """The partition keys with a writer, least recently written first."""
        with self._lock:
            return list(self._writers)

    def shipping_stats(self) -> Any:
        """The shipping counters summed over the partitions (see
        ``WritingRollManager.shipping_stats``)."""
        from ..ship.chain import ShippingStats

        stats = [writer.shipping_stats() for writer in self._all]
        summed: dict[str, Any] = {}
        for f in fields(ShippingStats):
            values = [getattr(s, f.name) for s in stats]
            summed[f.name] = max(values, default=0.0) if f.name == "oldest_age" else sum(values)
        return ShippingStats(**summed)

    def __enter__(self) -> PartitionedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"PartitionedWriter({self.filename_template!r}, partition_by="
                f"{list(self.partition_by)!r}, directory={self.directory!r})")
