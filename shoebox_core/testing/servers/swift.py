"""A real OpenStack Swift all-in-one on 127.0.0.1 for the tests (pytest plugin module).

Load it with ``pytest_plugins = ["shoebox_core.testing.servers"]``; it offers the session fixture
:func:`swift_server`. Five child processes, all from the pip-installed ``swift`` package: account,
container and object servers, a proxy (tempauth with fernet tokens, SLO, DLO and the s3api
middleware, so the same port also speaks S3) and a second proxy serving https with a self-signed
certificate made at fixture time. Rings are built in Python once the ports are chosen. The
proxies keep account and container info in an in-process stand-in for memcached
(``swift_memcache.py``), which makes each request about three times faster. The config files,
rings and certificate are written by :mod:`.swift_config`.

The servers call ``setsid()``, so they would survive a killed test process: they are stopped by
PID at the end of the session, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from .moto import free_port
from .swift_config import KINDS, device_root, write_config

__all__ = ["SwiftServer", "swift_server"]

USER = "test:tester"
_BIN = Path(sys.executable).parent


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SwiftServer:
    """A running Swift all-in-one: where it listens, how to log in, and how to stop its proxy.

    ``auth_url`` (v1 auth), ``user`` / ``key`` (also the S3 access key / secret on
    ``s3_endpoint``; the key is random, made for this server, so that it cannot turn up in an
    output by chance), ``storage_url``, ``token()``; ``https_auth_url`` and ``ca_file`` for the
    https proxy. ``stop()`` / ``start()`` take the proxies down and bring them back on the same
    ports, for "server down" tests; the backends keep running, so nothing stored is lost.
    """

    user = USER

    def __init__(self, root: Path, devices: Path) -> None:
        self.key = f"swift-key-{secrets.token_hex(12)}"
        self.root = root
        self.devices = devices
        self.ports = {kind: free_port() for kind in (*KINDS, "proxy", "https")}
        self.ca_file = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL (http)."""
        return f"http://127.0.0.1:{self.ports['proxy']}"

    @property
    def auth_url(self) -> str:
        """The v1 auth URL (tempauth)."""
        return f"{self.url}/auth/v1.0"

    @property
    def https_auth_url(self) -> str:
        """The v1 auth URL of the https proxy (its certificate is ``ca_file``)."""
        return f"https://127.0.0.1:{self.ports['https']}/auth/v1.0"

    @property
    def storage_url(self) -> str:
        """The storage URL of the test account."""
        return f"{self.url}/v1/AUTH_test"

    @property
    def s3_endpoint(self) -> str:
        """The S3 endpoint (s3api on the same proxy): access key ``user``, secret ``key``,
        region ``us-east-1``."""
        return self.url

    def token(self) -> str:
        """A fresh auth token for ``user``."""
        request = urllib.request.Request(
            self.auth_url, headers={"X-Auth-User": self.user, "X-Auth-Key": self.key}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.headers["X-Auth-Token"])

    # -- configuration ---------------------------------------------------------------------

    def configure(self) -> None:
        """Write swift.conf, the server configs and the rings into ``root``
        (:func:`~.swift_config.write_config`)."""
        self.ca_file = write_config(self.root, self.devices, self.ports, self.key)

    # -- processes -------------------------------------------------------------------------

    def _spawn(self, name: str) -> None:
        kind = "proxy" if name in ("proxy", "https") else name
        log = self._logs.get(name)
        if log is None:
            log = self._logs[name] = open(self.root / f"{name}.log", "ab")
        self._procs[name] = subprocess.Popen(
            [str(_BIN / f"swift-{kind}-server"), str(self.root / f"{name}-server.conf"),
             "--verbose"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, [str(self.root), os.environ.get("PYTHONPATH")]))},
        )

    def _wait_ready(self, names: tuple[str, ...], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            for name in list(pending):
                proc = self._procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"swift {name} server exited with {proc.returncode}; log:\n"
                        + self.log(name)
                    )
                if name in ("proxy", "https"):
                    if self._healthy(name):
                        pending.remove(name)
                elif _accepts(self.ports[name]):
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                raise RuntimeError(
                    f"swift servers not ready after {timeout:.0f} s: {', '.join(pending)}\n"
                    + "\n".join(self.log(n) for n in pending)
                )
            if pending:
                time.sleep(0.05)

    def _healthy(self, name: str) -> bool:
        scheme = "https" if name == "https" else "http"
        url = f"{scheme}://127.0.0.1:{self.ports[name]}/healthcheck"
        context = None
        if scheme == "https":
            import ssl

            context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def log(self, name: str) -> str:
        """The tail of one server's log (for error messages)."""
        try:
            return (self.root / f"{name}.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start_all(self) -> None:
        """Start the three backends and both proxies; return once every one answers."""
        for kind in KINDS:
            self._spawn(kind)
        self._wait_ready(KINDS)
        self.start()

    def start(self) -> None:
        """(Re)start the proxies (http and https) on their ports; return once they answer."""
        for name in ("proxy", "https"):
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                self._spawn(name)
        self._wait_ready(("proxy", "https"))

    def stop(self) -> None:
        """Stop the proxies: clients get connection refused until :meth:`start`."""
        for name in ("proxy", "https"):
            self._terminate(name)

    def _terminate(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        # Swift's servers run in their own session; signal the process by its PID.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Stop every server and close the logs."""
        for name in ("proxy", "https", *KINDS):
            try:
                self._terminate(name)
            except Exception:  # keep stopping the others
                pass
        for log in self._logs.values():
            log.close()
        self._logs.clear()


@contextlib.contextmanager
def running_swift() -> Iterator[SwiftServer]:
    """Start a Swift all-in-one in a fresh directory; stop it and remove the files on exit."""
    root = Path(tempfile.mkdtemp(prefix="shoebox-swift-"))
    devices = Path(tempfile.mkdtemp(prefix="shoebox-swift-devices-", dir=device_root()))
    server = SwiftServer(root, devices)
    try:
        server.configure()
        server.start_all()
        yield server
    finally:
        server.stop_all()
        shutil.rmtree(devices, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def swift_server() -> Iterator[SwiftServer]:
    """A Swift all-in-one shared by the whole session (see :class:`SwiftServer`).

    Tests that stop the proxy must start it again (``try: ... finally: swift_server.start()``).
    """
    with running_swift() as server:
        yield server
