"""A writer's counters in the Prometheus text format, through the standard client library.

``serve_metrics(writer, port)`` starts an HTTP endpoint (``/metrics``) whose every scrape reads
the writer's counters at that moment; ``shoebox write --metrics-port PORT`` (or ``metrics_port`` in
the config's ``[writer]`` table, or ``WritingRollManager(..., metrics_port=PORT)``) does it for
you. It needs ``prometheus_client`` (``pip install 'shoebox-core[metrics]'``).

Exposed (all prefixed ``shoebox_``):

=================================== ======= ====================================================
``records_written_total``           counter records accepted by ``write()`` and stored
``bytes_written_total``             counter bytes of archive written (sealed files and the active)
``files_sealed_total``              counter archives sealed
``files_shipped_total``             counter archives whose remote copy was verified (uploaded, or
                                            found already there and equal)
``bytes_shipped_total``             counter bytes uploaded and verified
``files_failed_total``              counter on-close chains that gave up (kept, tried again later)
``shipping_retries_total``          counter attempts that followed a failure
``shipping_backlog_files``          gauge   sealed files waiting for (or in) their on-close chain,
                                            those given up for now included
``shipping_oldest_waiting_seconds`` gauge   how long the oldest of them has waited
``remote_down``                     gauge   1 while the remote is down (the breaker is open)
=================================== ======= ====================================================

A file counts as shipped only once its remote copy is verified (size and checksum).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["WriterCollector", "serve_metrics"]

_HINT = "the metrics endpoint needs prometheus_client: pip install 'shoebox-core[metrics]'"


class WriterCollector:
    """A ``prometheus_client`` collector reading a writer's counters at each scrape."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def describe(self) -> list[Any]:
        """Nothing up front: the registry then takes the metrics a first :meth:`collect` gives."""
        return []

    def collect(self) -> Iterator[Any]:
        """The metrics now (``shoebox_...``)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        writer = self.writer
        written = writer.counters()
        shipping = writer.shipping_stats()
        closers = getattr(writer, "closers", None)  # a partitioned writer: one per partition
        if closers is None:
            closers = [writer.closer] if writer.closer is not None else []
        down = 1.0 if any(closer.breaker.is_open for closer in closers) else 0.0
        # Parked files (given up for now, tried again later) wait too.
        backlog = shipping.backlog + sum(closer.stats().parked for closer in closers)
        counters = (
            ("records_written", "Records stored by the writer", written["records"]),
            ("bytes_written", "Bytes of archive written", written["bytes"]),
            ("files_sealed", "Archives sealed", written["files"]),
            ("files_shipped", "Archives whose remote copy was verified",
             shipping.shipped_files + shipping.already_present),
            ("bytes_shipped", "Bytes uploaded and verified", shipping.shipped_bytes),
            ("files_failed", "On-close chains that gave up (the file is kept)",
             shipping.files_failed),
            ("shipping_retries", "Shipping attempts that followed a failure", shipping.retries),
        )
        for name, text, value in counters:
            yield CounterMetricFamily(f"shoebox_{name}", text, value=float(value))
        gauges = (
            ("shipping_backlog_files", "Sealed files waiting for their on-close chain",
             backlog),
            ("shipping_oldest_waiting_seconds", "Age of the oldest file waiting to ship",
             shipping.oldest_age),
            ("remote_down", "1 while the remote is down (one file probes, the others wait)",
             down),
        )
        for name, text, value in gauges:
            yield GaugeMetricFamily(f"shoebox_{name}", text, value=float(value))


def serve_metrics(writer: Any, port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``writer``'s metrics on ``http://addr:port/metrics`` from a daemon thread; return
    the server (``server.shutdown()`` stops it; ``server.server_port`` is the port, useful with
    ``port=0``). ``writer`` is a :class:`~shoebox_core.write.manager.WritingRollManager`."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:
        from .errors import ConfigError

        raise ConfigError(f"{_HINT} ({exc})") from None
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WriterCollector(writer))  # type: ignore[arg-type]
    server, _thread = start_http_server(int(port), addr=addr, registry=registry)
    return server
