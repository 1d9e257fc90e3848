"""A real OpenStack Swift all-in-one on 127.0.0.1 for the tests (pytest plugin module).

Load it with ``pytest_plugins = ["shoebox_core.testing.servers"]``; it offers the session fixture
:func:`swift_server`. Five child processes, all from the pip-installed ``swift`` package: account,
container and object servers, a proxy (tempauth with fernet tokens, SLO, DLO and the s3api
middleware, so the same port also speaks S3) and a second proxy serving https with a self-signed
certificate made at fixture time. Rings are built in Python once the ports are chosen. The
proxies keep account and container info in an in-process stand-in for memcached
(``swift_memcache.py``), which makes each request about three times faster. Device files live on
tmpfs when there is one (Swift keeps metadata in xattrs; ext4 caps them at one 4 KiB block per
file).

The servers call ``setsid()``, so they would survive a killed test process: they are stopped by
PID at the end of the session, whatever happened.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import getpass
import ipaddress
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

__all__ = ["SwiftServer", "swift_server"]

USER = "test:tester"
_KINDS = ("account", "container", "object")
_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _probe_xattr(directory: Path) -> None:
    probe = directory / ".xattr-probe"
    probe.touch()
    try:
        os.setxattr(probe, "user.shoebox.probe", b"1")
    except OSError as exc:
        raise RuntimeError(
            f"Swift keeps object metadata in user.* extended attributes, and {directory} does not"
            f" support them ({exc}). Point TMPDIR (or SHOEBOX_SWIFT_DEVICES) at a tmpfs or an"
            " ext4/xfs directory."
        ) from exc
    finally:
        probe.unlink()


def _device_root() -> Path:
    override = os.environ.get("SHOEBOX_SWIFT_DEVICES")
    if override:
        return Path(override)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (the certificate is its own CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shoebox test swift")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "proxy.crt", directory / "proxy.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


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
        self.ports = {kind: free_port() for kind in (*_KINDS, "proxy", "https")}
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

    def _common(self) -> str:
        return (
            "[DEFAULT]\n"
            f"swift_dir = {self.root}\n"
            "bind_ip = 127.0.0.1\n"
            "workers = 0\n"
            f"user = {getpass.getuser()}\n"
            "log_level = INFO\n"
        )

    def configure(self) -> None:
        """Write swift.conf, the server configs and the rings into ``root``."""
        from swift.common.ring import RingBuilder

        (self.devices / "d1").mkdir(parents=True, exist_ok=True)
        _probe_xattr(self.devices / "d1")
        suffix = base64.b16encode(os.urandom(8)).decode()
        (self.root / "swift.conf").write_text(
            "[swift-hash]\n"
            f"swift_hash_path_suffix = {suffix}\n"
            "swift_hash_path_prefix = shoebox\n\n"
            "[storage-policy:0]\n"
            "name = gold\n"
            "default = yes\n"
        )
        for kind in _KINDS:
            builder = RingBuilder(4, 1, 1)
            builder.add_dev(
                {
                    "id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                    "port": self.ports[kind], "device": "d1", "weight": 1,
                }
            )
            builder.rebalance()
            builder.get_ring().save(str(self.root / f"{kind}.ring.gz"))
            (self.root / f"{kind}-server.conf").write_text(
                self._common()
                + f"bind_port = {self.ports[kind]}\n"
                f"devices = {self.devices}\n"
                "mount_check = false\n"
                "disable_fallocate = true\n\n"
                "[pipeline:main]\n"
                f"pipeline = {kind}-server\n\n"
                f"[app:{kind}-server]\n"
                f"use = egg:swift#{kind}\n"
                + (f"\n[{kind}-replicator]\n[{kind}-updater]\n[{kind}-auditor]\n")
            )
        fernet = base64.urlsafe_b64encode(os.urandom(32)).decode()
        pipeline = (
            "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth"
            " copy slo dlo proxy-logging proxy-server"
        )
        # The proxies' stand-in for memcached (see swift_memcache.py), importable from root.
        shutil.copy(Path(__file__).with_name("swift_memcache.py"), self.root)
        cert_file, key_file = _self_signed(self.root)
        self.ca_file = str(cert_file)
        for name, port, tls in (
            ("proxy", self.ports["proxy"], ""),
            ("https", self.ports["https"], f"cert_file = {cert_file}\nkey_file = {key_file}\n"),
        ):
            (self.root / f"{name}-server.conf").write_text(
                self._common()
                + f"bind_port = {port}\n"
                + tls
                + "\n[pipeline:main]\n"
                f"pipeline = {pipeline}\n\n"
                "[app:proxy-server]\n"
                "use = egg:swift#proxy\n"
                "account_autocreate = true\n\n"
                "[filter:tempauth]\n"
                "use = egg:swift#tempauth\n"
                f"user_test_tester = {self.key} .admin\n"
                f"fernet_key_k1 = {fernet}\n"
                "active_fernet_key_id = k1\n\n"
                "[filter:s3api]\n"
                "use = egg:swift#s3api\n"
                "location = us-east-1\n\n"
                "[filter:catch_errors]\nuse = egg:swift#catch_errors\n\n"
                "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n"
                "[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n"
                "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n"
                "[filter:listing_formats]\nuse = egg:swift#listing_formats\n\n"
                "[filter:copy]\nuse = egg:swift#copy\n\n"
                "[filter:cache]\npaste.filter_factory = swift_memcache:filter_factory\n\n"
                "[filter:slo]\nuse = egg:swift#slo\n"
                # By default SLO reads slow down to one segment a second after the tenth; tests
                # use many small segments.
                "rate_limit_after_segment = 100000\n\n"
                "[filter:dlo]\nuse = egg:swift#dlo\n"
            )

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
        for kind in _KINDS:
            self._spawn(kind)
        self._wait_ready(_KINDS)
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
        for name in ("proxy", "https", *_KINDS):
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
    devices = Path(tempfile.mkdtemp(prefix="shoebox-swift-devices-", dir=_device_root()))
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
