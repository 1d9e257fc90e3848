"""Remotes that fail as real networks do, for tests of a store that is down or frozen.

``dead_endpoint`` is an ``http://127.0.0.1:<port>`` URL where nothing listens (a connection is
refused at once). ``frozen_endpoint`` is a real TCP server, in a thread, that accepts every
connection and never answers a byte (a hung proxy or a store stuck mid-request): only a read
timeout gets a client out.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from .moto import free_port

__all__ = ["FrozenServer", "dead_endpoint", "frozen_endpoint"]


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
