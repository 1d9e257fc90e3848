"""The s3 transfer and reading from buckets, against two real S3 servers on 127.0.0.1: a moto
server process and the s3api layer of an OpenStack Swift all-in-one.

Each test that takes ``store`` runs against both. Buckets are new for every test.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import s3fs
from shoebox_core import plugin as plugins
from shoebox_core.errors import CallbackError, PluginError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.read.sources import find_sources
from shoebox_core.ship.chain import ShippingChain
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.ship.transfer import archive_facts
from shoebox_core.testing.cli_roundtrip import CliRoundTripContract
from shoebox_core.testing.servers.silent import write_through_an_outage
from shoebox_core.testing.transfers import TransferContract
from shoebox_core.write.checkers import CountRollChecker, SizeRollChecker
from shoebox_core.write.manager import WritingRollManager

from shoebox_s3 import S3Transfer

REGION = "us-east-1"
# Calls to a stopped server fail fast: no botocore retries, short timeouts.
FAIL_FAST = {"retries": {"max_attempts": 1}, "connect_timeout": 2, "read_timeout": 20}


@dataclass
class Store:
    """One S3 server: where it is, how to log in, how to take it down and bring it back."""

    kind: str
    endpoint_url: str
    key: str
    secret: str
    stop: Callable[[], None]
    start: Callable[[], None]
    persistent: bool  # keeps its objects across stop() / start()

    def options(self, **extra: Any) -> dict[str, Any]:
        """s3fs options (S3FileSystem keyword arguments)."""
        return {"endpoint_url": self.endpoint_url, "key": self.key, "secret": self.secret,
                "config_kwargs": FAIL_FAST, **extra}

    def transfer_options(self) -> dict[str, Any]:
        """S3Transfer options reaching this server."""
        return {"endpoint_url": self.endpoint_url, "key": self.key, "secret": self.secret,
                "config_kwargs": FAIL_FAST}

    def fs(self) -> Any:
        """A fresh (uncached) s3fs file system on this server."""
        return s3fs.S3FileSystem(skip_instance_cache=True, **self.options())

    def new_bucket(self) -> str:
        name = f"shoebox-{uuid.uuid4().hex[:16]}"
        self.fs().mkdir(name)
        return name

    def objects(self, bucket: str) -> dict[str, int]:
        """Every object of ``bucket``: key -> size."""
        fs = self.fs()
        return {path[len(bucket) + 1 :]: info["size"]
                for path, info in fs.find(bucket, detail=True).items()}


@pytest.fixture(params=["moto", "swift"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """Each S3 implementation in turn (a fresh moto; Swift's s3api, buckets new per test)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(variable, raising=False)
    if request.param == "moto":
        server = request.getfixturevalue("moto")
        yield Store("moto", server.endpoint_url, server.access_key, server.secret_key,
                    server.stop, server.start, persistent=False)
        server.start()
    else:
        swift = request.getfixturevalue("swift_server")
        try:
            yield Store("swift", swift.s3_endpoint, swift.user, swift.key, swift.stop,
                        swift.start, persistent=True)
        finally:
            swift.start()


def make_archive(directory: Path, name: str = "a.events", records: int = 3,
                 payload: str = "payload", metadata: dict[str, str] | None = None) -> str:
    with WritingRollManager(name, None, str(directory)) as writer:
        for i in range(records):
            writer.write({**(metadata or {}), "i": str(i)}, f"{payload} {i}")
    return str(directory / name)


# -- the transfer ---------------------------------------------------------------------------------


def test_the_s3_plugin_is_installed_and_checks_its_options() -> None:
    info = {i.name: i for i in plugins.fresh_plugin_manager().strategies("transfer")}
    assert info["s3"].distribution == "shoebox-s3" and info["fsspec"].distribution == "shoebox-core"
    transfer = plugins.create_transfer("s3", url="s3://b/p", part_size_mb="8", remove_local="true")
    assert isinstance(transfer, S3Transfer) and transfer.remove_local
    assert transfer.part_bytes == 8 * 1024 * 1024
    with pytest.raises(PluginError, match="s3://bucket"):
        plugins.create_transfer("s3", url="memory://b")
    with pytest.raises(PluginError, match="region_name"):
        plugins.create_transfer("s3", url="s3://b", client_kwargs={"region_name": "eu-west-1"})
    with pytest.raises(PluginError, match="part_size_mb"):
        plugins.create_transfer("s3", url="s3://b", part_size_mb="big")


def test_a_small_file_is_one_put_verified_by_its_md5_etag(store: Store, tmp_path: Path) -> None:
    bucket = store.new_bucket()
    archive = make_archive(tmp_path)
    transfer = S3Transfer(url=f"s3://{bucket}/logs", template="%Y/{name}", remove_local=True,
                          **store.transfer_options())
    shipped = transfer.ship(archive)
    assert shipped.uploaded and shipped.verified_by == "etag"
    year = time.gmtime(archive_facts(archive).created_ns / 1e9).tm_year
    assert shipped.url == f"s3://{bucket}/logs/{year}/a.events"
    head = store.fs().call_s3("head_object", Bucket=bucket, Key=shipped.path.split("/", 1)[1])
    assert head["Metadata"]["shoebox-md5"] == shipped.md5
    assert head["Metadata"]["shoebox-size"] == str(os.path.getsize(archive))
    assert head["ETag"].strip('"') == shipped.md5
    transfer.on_close(archive)  # a retry after a crash: found, verified, not sent again
    assert not os.path.exists(archive)
    stats = transfer.stats.as_dict()
    assert (stats["files"], stats["already_present"], stats["read_back"]) == (1, 1, 0)
    assert list(store.objects(bucket)) == [shipped.path.split("/", 1)[1]]


def test_a_large_file_goes_up_in_parts_verified_by_the_multipart_etag(
    store: Store, tmp_path: Path
) -> None:
    bucket = store.new_bucket()
    path = tmp_path / "big.events"
    path.write_bytes(os.urandom(11 * 1024 * 1024 + 12345))
    transfer = S3Transfer(url=f"s3://{bucket}", part_size_mb=5, remove_local=True,
                          **store.transfer_options())
    transfer.on_close(str(path))
    head = store.fs().call_s3("head_object", Bucket=bucket, Key="big.events")
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    assert head["ContentLength"] == 11 * 1024 * 1024 + 12345
    assert transfer.stats.as_dict()["read_back"] == 0, "the multipart ETag proved the content"
    assert not path.exists()


def test_another_archive_under_the_same_name_is_never_overwritten(
    store: Store, tmp_path: Path
) -> None:
    bucket = store.new_bucket()
    first = make_archive(tmp_path / "one")
    second = make_archive(tmp_path / "two", records=9)
    transfer = S3Transfer(url=f"s3://{bucket}/x", **store.transfer_options())
    transfer.on_close(first)
    transfer.on_close(second)
    assert store.objects(bucket) == {"x/a.events": os.path.getsize(first),
                                     "x/a~001.events": os.path.getsize(second)}


def test_reading_from_the_bucket_by_pattern_in_order_compressed_or_not(
    store: Store, tmp_path: Path
) -> None:
    bucket = store.new_bucket()
    url = f"s3://{bucket}/events"
    records = [({"event": f"type{i % 3}", "i": str(i)}, f"payload {i}") for i in range(300)]
    transfer = S3Transfer(url=url, template="{event}/%Y/%m/%d/{name}", remove_local=True,
                          **store.transfer_options())
    plain = S3Transfer(url=url, template="plain/{name}", remove_local=True,
                       **store.transfer_options())
    with WritingRollManager("e_{seq}.events", CountRollChecker(roll_records=40),
                            str(tmp_path / "z"), [ZstdCallback(), transfer]) as writer:
        writer.write_many(records[:200])
    with WritingRollManager("e_{seq}.events", CountRollChecker(roll_records=40),
                            str(tmp_path / "p"), plain) as writer:
        for offset in range(200, 300):  # written later: read after the compressed ones
            writer.write(*records[offset])
    keys = sorted(store.objects(bucket))
    assert len(keys) == 8 and sum(k.endswith(".zst") for k in keys) == 5
    reader = ReadingRollManager(f"{url}/*/*/*/*/e_*.events", storage_options=store.options())
    assert list(reader) == records[:200]
    both = ReadingRollManager(f"{url}/**/e_*.events", storage_options=store.options())
    assert list(both) == records
    flat = ReadingRollManager(f"{url}/plain/e_*.events", storage_options=store.options())
    assert list(flat) == records[200:]
    # Ranged reads: finding the write order read each file's header, not the whole file.
    source = next(s for s in find_sources(f"{url}/plain/*.events",
                                          storage_options=store.options()))
    with source.open() as f:
        assert f.read(8)
        assert f.cache.total_requested_bytes <= 70 * 1024  # type: ignore[attr-defined]


def test_credentials_never_reach_the_log_or_repr(
    moto: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    secret = "s3cr3t-" + uuid.uuid4().hex  # moto takes any secret
    s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=moto.endpoint_url,
                      key="AKIDSHOEBOX", secret=secret).mkdir("creds")
    transfer = S3Transfer(url="s3://creds/p", endpoint_url=moto.endpoint_url, key="AKIDSHOEBOX",
                          secret=secret, token="tok-" + secret, config_kwargs=FAIL_FAST)
    caplog.set_level(logging.DEBUG, logger="shoebox")
    transfer.on_close(make_archive(tmp_path / "ok"))
    moto.stop()
    try:
        with pytest.raises(CallbackError) as caught:
            ShippingChain([transfer]).on_close(make_archive(tmp_path / "down"))
    finally:
        moto.start()
    assert secret not in str(caught.value)
    assert secret not in repr(transfer) and "'secret': '***'" in repr(transfer)
    assert secret not in caplog.text


# -- end to end: the nova sample, size roll, zstd, S3 with removal, then read from the bucket ---


def nova_pipeline(tmp_path: Path, bucket: str, store: Store, **writer: Any) -> WritingRollManager:
    transfer = S3Transfer(url=f"s3://{bucket}/nova", template="{event}/%Y/%m/%d/{name}",
                          remove_local=True, part_size_mb=5, **store.transfer_options())
    return WritingRollManager("nova_%Y%m%dT%H%M%S_{seq}.events", SizeRollChecker(roll_size_mb=4),
                              str(tmp_path / "spool"), [ZstdCallback(), transfer], **writer)


def test_end_to_end_nova_through_zstd_to_s3_and_back(
    store: Store, tmp_path: Path, nova_records: list[tuple[dict[str, str], str]]
) -> None:
    bucket = store.new_bucket()
    with nova_pipeline(tmp_path, bucket, store) as writer:
        writer.write_many(nova_records)
    assert os.listdir(tmp_path / "spool") == [], "every local file removed after verification"
    keys = list(store.objects(bucket))
    assert len(keys) == len(writer.sealed) >= 5 and all(k.endswith(".events.zst") for k in keys)
    stats = writer.shipping_stats()
    assert (stats.files_done, stats.files_failed) == (len(keys), 0)
    # Uploaded, or (a retry after a timeout under load) found already there: never both.
    assert stats.shipped_files + stats.already_present == len(keys)
    reader = ReadingRollManager(f"s3://{bucket}/nova/*/*/*/*/nova_*.events",
                                storage_options=store.options())
    assert list(reader) == nova_records


def test_the_store_stopped_mid_run_loses_nothing_and_ships_everything_once(
    store: Store, tmp_path: Path, nova_records: list[tuple[dict[str, str], str]]
) -> None:
    bucket = store.new_bucket()
    records = nova_records[:6000]
    writer = nova_pipeline(
        tmp_path, bucket, store, max_backlog=16,
        # A few attempts: a file that gives up during the outage ships later, unreported.
        retry={"max_attempts": 4, "initial_delay": 0.05, "max_delay": 0.3, "requeue_after": 0.5},
    )
    saved: dict[str, bytes] = {}

    def stop() -> None:
        saved.update({path: store.fs().cat_file(path) for path in store.fs().find(bucket)})
        store.stop()

    def start() -> None:
        store.start()
        if not store.persistent:  # moto keeps objects in memory: put back what it had
            fs = store.fs()
            fs.mkdir(bucket)
            for path, data in saved.items():
                fs.pipe_file(path, data)

    write_through_an_outage(writer, records, str(tmp_path / "spool"), ".zst", stop, start)
    keys = sorted(store.objects(bucket))
    expected = sorted(os.path.basename(name) + ".zst" for name in writer.sealed)
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == expected, "one object per archive"
    assert not any("~" in k for k in keys), "no archive uploaded twice under two names"
    reader = ReadingRollManager(f"s3://{bucket}/nova/*/*/*/*/nova_*.events",
                                storage_options=store.options())
    assert list(reader) == records
    final = writer.shipping_stats()
    assert final.files_done == len(writer.sealed) and final.backlog == 0


# -- the command line: write to a bucket, then ls, cat and verify from it, on both servers ----


class TestS3CommandLine(CliRoundTripContract):
    plugin = "s3"

    @pytest.fixture(autouse=True)
    def _store(self, store: Store) -> None:
        self.store = store

    def make_bucket(self) -> str:
        return f"s3://{self.store.new_bucket()}"

    def transfer_options(self) -> dict[str, str]:
        return {"endpoint_url": self.store.endpoint_url, "key": self.store.key,
                "secret": self.secret_reference}

    def secret(self) -> str:
        return self.store.secret

    def environment(self) -> dict[str, str]:
        return {**os.environ, "AWS_DEFAULT_REGION": REGION}

    def read_access(self) -> tuple[list[str], dict[str, str]]:
        return [f"--storage-option=endpoint_url={self.store.endpoint_url}",
                f"--storage-option=key={self.store.key}",
                f"--storage-option=secret={self.store.secret}"], {}


# -- the transfer contract, on both servers ----------------------------------------------------


class TestS3TransferContract(TransferContract):
    @pytest.fixture(autouse=True)
    def _store(self, store: Store) -> None:
        self.store = store

    def make_transfer(self, tmp_path: Path, **options: Any) -> S3Transfer:
        bucket = self.store.new_bucket()
        return S3Transfer(url=f"s3://{bucket}/contract", **self.store.transfer_options(),
                          **options)
