"""A real moto S3 server on 127.0.0.1, started once per test session.

``moto_server`` runs ``python -m moto.server -H 127.0.0.1 -p <free port>`` as a child process, waits
until ``GET /moto-api/`` answers, empties it before each test (``POST /moto-api/reset``, done by
the function-scoped ``moto`` fixture) and stops it by PID at the end of the session. ``stop()`` and
``start()`` take it down and bring it back on the same port, for tests of an unreachable store:
moto keeps everything in memory, so a restarted server is empty.

moto checks no signature, so each server makes up a random secret of its own: a test that no
output shows the secret then proves something, which it could not with a word like "testing".
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["MotoServer", "free_port", "moto", "moto_server"]

ACCESS_KEY = "testing"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port nobody listens on now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    """One moto server process: ``endpoint_url``, credentials, ``storage_options()`` for s3fs."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    name: str = "moto"
    secret: str = field(default_factory=lambda: f"moto-secret-{secrets.token_hex(12)}")

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_key(self) -> str:
        """The access key id (moto takes any)."""
        return ACCESS_KEY

    @property
    def secret_key(self) -> str:
        """This server's secret access key (moto takes any; this one is random)."""
        return self.secret

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        """s3fs options that reach this server (no ``region_name``: the environment sets it)."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": ACCESS_KEY,
            "secret": self.secret,
            **extra,
        }

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (on the same port as before, if it ran already) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {**os.environ, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": self.secret}
        log = open(self.log_dir / f"moto-{self.port}.log", "ab")  # noqa: SIM115 (kept by Popen)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}; see "
                                   f"{self.log_dir}/moto-{self.port}.log")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not answer on port {self.port}") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server process (SIGKILL by default) and wait for it to be gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reset(self) -> None:
        """Empty the server (every bucket and object); restarts it if it was stopped."""
        if not self.running:
            self.start()
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto S3 server for the whole session (started on first use, stopped by PID at the end)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    server = MotoServer(tmp_path_factory.mktemp("moto-logs"))
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGTERM)


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied for this test (and running, even if a test stopped it)."""
    moto_server.reset()
    return moto_server
