"""The files of the Swift all-in-one the tests run (:mod:`.swift`): swift.conf, the backend and
proxy configs, the rings (built once the ports are chosen: they are baked in), a self-signed
certificate for the https proxy, and where the device folder goes (tmpfs when there is one: Swift
keeps metadata in xattrs, and ext4 caps them at one 4 KiB block per file).
"""

from __future__ import annotations

import base64
import datetime
import getpass
import ipaddress
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["KINDS", "device_root", "probe_xattr", "write_config"]

KINDS = ("account", "container", "object")


def probe_xattr(directory: Path) -> None:
    """Fail with a clear message unless ``directory`` supports ``user.*`` extended attributes."""
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


def device_root() -> Path:
    """Where the device folders go: ``SHOEBOX_SWIFT_DEVICES``, else tmpfs, else the temp dir."""
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


def _common(root: Path) -> str:
    return (
        "[DEFAULT]\n"
        f"swift_dir = {root}\n"
        "bind_ip = 127.0.0.1\n"
        "workers = 0\n"
        f"user = {getpass.getuser()}\n"
        "log_level = INFO\n"
    )


def write_config(root: Path, devices: Path, ports: dict[str, int], key: str) -> str:
    """Write swift.conf, the server configs, the rings and the https proxy's certificate into
    ``root`` (one device folder ``d1`` in ``devices``; the servers listen on ``ports``, one for
    each of ``KINDS``, ``"proxy"`` and ``"https"``; ``key`` is the test user's); return the
    certificate's file, the https clients' CA."""
    from swift.common.ring import RingBuilder

    (devices / "d1").mkdir(parents=True, exist_ok=True)
    probe_xattr(devices / "d1")
    suffix = base64.b16encode(os.urandom(8)).decode()
    (root / "swift.conf").write_text(
        "[swift-hash]\n"
        f"swift_hash_path_suffix = {suffix}\n"
        "swift_hash_path_prefix = shoebox\n\n"
        "[storage-policy:0]\n"
        "name = gold\n"
        "default = yes\n"
    )
    for kind in KINDS:
        builder = RingBuilder(4, 1, 1)
        builder.add_dev(
            {
                "id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                "port": ports[kind], "device": "d1", "weight": 1,
            }
        )
        builder.rebalance()
        builder.get_ring().save(str(root / f"{kind}.ring.gz"))
        (root / f"{kind}-server.conf").write_text(
            _common(root)
            + f"bind_port = {ports[kind]}\n"
            f"devices = {devices}\n"
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
    shutil.copy(Path(__file__).with_name("swift_memcache.py"), root)
    cert_file, key_file = _self_signed(root)
    for name, port, tls in (
        ("proxy", ports["proxy"], ""),
        ("https", ports["https"], f"cert_file = {cert_file}\nkey_file = {key_file}\n"),
    ):
        (root / f"{name}-server.conf").write_text(
            _common(root)
            + f"bind_port = {port}\n"
            + tls
            + "\n[pipeline:main]\n"
            f"pipeline = {pipeline}\n\n"
            "[app:proxy-server]\n"
            "use = egg:swift#proxy\n"
            "account_autocreate = true\n\n"
            "[filter:tempauth]\n"
            "use = egg:swift#tempauth\n"
            f"user_test_tester = {key} .admin\n"
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
    return str(cert_file)
