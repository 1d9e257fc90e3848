"""Remotes that fail as real networks do, for tests of a store that is down or frozen.

``dead_endpoint`` is an ``http://127.0.0.1:<port>`` URL where nothing listens (a connection is
refused at once). ``frozen_endpoint`` is a real TCP server, in a thread, that accepts every
connection and never answers a byte (a hung proxy or a store stuck mid-request): only a read
timeout gets a client out. :func:`write_through_an_outage` runs a writer while its store goes
down and comes back (a real server stopped and started: every backend's outage test).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from .moto import free_port

__all__ = ["FrozenServer", "dead_endpoint", "frozen_endpoint", "write_through_an_outage"]


class FrozenServer:
    """A listening socket that accepts connections, keeps them open and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="frozen-server", daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)  # read nothing, answer nothing, close nothing

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()


@pytest.fixture
def dead_endpoint() -> str:
    """An ``http://127.0.0.1:<port>`` URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def frozen_endpoint() -> Iterator[FrozenServer]:
    """A server that accepts connections and never answers (stopped after the test)."""
    server = FrozenServer()
    try:
        yield server
    finally:
        server.close()


def write_through_an_outage(writer: Any, records: Sequence[Any], spool: str, kept: str,
                            stop: Callable[[], None], start: Callable[[], None]) -> None:
    """Run ``writer`` (a background-shipping writer whose files go to a store) through an outage,
    checking what must hold on the way; close it at the end.

    The first third of ``records`` is written and shipped; then ``stop()`` takes the store down
    and the second third is written: write() does not wait for the store, files are retried and
    wait in a bounded backlog, none is shipped, sealed files (named ``*<kept>``: ``".zst"`` once
    compressed) stay in ``spool``. ``start()``
    brings the store back (also when a check failed), the rest is written and ``writer.close()``
    must ship everything and leave ``spool`` empty. The caller checks what the store holds.
    """
    third = len(records) // 3
    writer.write_many(records[:third])
    assert writer.closer is not None and writer.closer.drain(60)
    before = writer.shipping_stats()
    assert before.files_done >= 1 and before.retries == 0
    stop()
    try:
        began = time.monotonic()
        writer.write_many(records[third : 2 * third])  # the files roll and wait in the backlog
        assert time.monotonic() - began < 30, "write() waited for a store that is down"
        deadline = time.monotonic() + 30
        while writer.shipping_stats().retries == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        during = writer.shipping_stats()
        assert during.retries > 0 and during.oldest_age > 0
        assert 1 <= during.backlog <= writer.closer.max_backlog
        assert during.files_done == before.files_done, "nothing can be shipped while it is down"
        waiting = [name for name in os.listdir(spool) if name.endswith(kept)]
        assert waiting, f"sealed files (*{kept}) are kept while the store is down"
    finally:
        start()
    writer.write_many(records[2 * third :])
    writer.close()
    assert os.listdir(spool) == [], "every file shipped, verified and removed"
