"""The swift transfer and reading archives straight from Swift, against a real Swift all-in-one
on 127.0.0.1 (``shoebox_core.testing.servers``). Containers are new for every test."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from shoebox_core import plugin as plugins
from shoebox_core.errors import CallbackError, PluginError, RemoteError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.read.sources import find_sources
from shoebox_core.ship.chain import ShippingChain
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.testing.cli_roundtrip import CliRoundTripContract
from shoebox_core.testing.servers.silent import write_through_an_outage
from shoebox_core.testing.transfers import TransferContract
from shoebox_core.write.checkers import CountRollChecker, SizeRollChecker
from shoebox_core.write.manager import WritingRollManager

from shoebox_swift import SwiftFileSystem, SwiftTransfer


def login(server: Any) -> dict[str, Any]:
    """SwiftFileSystem options for the test server: v1 auth, no retries, a short timeout."""
    return {"auth_url": server.auth_url, "user": server.user, "key": server.key,
            "retries": 0, "timeout": 10, "use_env": False}


def transfer_options(server: Any) -> dict[str, Any]:
    """SwiftTransfer options reaching the test server."""
    return {"auth_url": server.auth_url, "user": server.user, "key": server.key,
            "retries": 0, "timeout": 10, "storage_options": {"use_env": False}}


def new_fs(server: Any) -> SwiftFileSystem:
    return SwiftFileSystem(skip_instance_cache=True, **login(server))


def new_container(server: Any) -> str:
    name = f"shoebox-{uuid.uuid4().hex[:16]}"
    new_fs(server).mkdir(name)
    return name


def objects(server: Any, container: str) -> dict[str, int]:
    """Every object of ``container``: name -> size."""
    found = new_fs(server).find(container, detail=True)
    return {path[len(container) + 1 :]: info["size"] for path, info in found.items()}


def make_archive(directory: Path, name: str = "a.events", records: int = 3,
                 payload: str = "payload") -> str:
    with WritingRollManager(name, None, str(directory)) as writer:
        for i in range(records):
            writer.write({"i": str(i)}, f"{payload} {i}")
    return str(directory / name)


# -- the transfer -------------------------------------------------------------------------------


def test_the_swift_plugin_is_installed_and_checks_its_options() -> None:
    info = {i.name: i for i in plugins.fresh_plugin_manager().strategies("transfer")}
    assert info["swift"].distribution == "shoebox-swift"
    transfer = plugins.create_transfer(
        "swift", url="swift://c/p", auth_url="http://127.0.0.1:1/auth/v1.0", user="u", key="k",
        segment_size_mb="0.5", remove_local="true", insecure="yes", retries="2",
    )
    assert isinstance(transfer, SwiftTransfer) and transfer.remove_local
    assert transfer.segment_bytes == 512 * 1024
    assert transfer.storage_options["verify"] is False
    assert transfer.storage_options["retries"] == 2
    with pytest.raises(PluginError, match="swift://container"):
        plugins.create_transfer("swift", url="s3://b")
    with pytest.raises(PluginError, match="names no container"):
        plugins.create_transfer("swift", url="swift://")
    with pytest.raises(PluginError, match="segment_size_mb"):
        plugins.create_transfer("swift", url="swift://c", segment_size_mb="big")


def test_a_small_file_is_one_put_verified_by_its_md5(swift_server: Any, tmp_path: Path) -> None:
    container = new_container(swift_server)
    archive = make_archive(tmp_path)
    transfer = SwiftTransfer(url=f"swift://{container}/logs", template="%Y/{name}",
                             remove_local=True, **transfer_options(swift_server))
    shipped = transfer.ship(archive)
    assert shipped.uploaded and shipped.verified_by == "etag"
    assert shipped.url.startswith(f"swift://{container}/logs/") and shipped.url.endswith(
        "/a.events")
    head = new_fs(swift_server).head(shipped.path)
    assert head["etag"] == shipped.md5 and not head["slo"]
    assert head["metadata"]["shoebox-md5"] == shipped.md5
    assert head["metadata"]["shoebox-size"] == str(os.path.getsize(archive))
    transfer.on_close(archive)  # a retry after a crash: found, verified, not sent again
    assert not os.path.exists(archive)
    stats = transfer.stats.as_dict()
    assert (stats["files"], stats["already_present"], stats["read_back"]) == (1, 1, 0)
    assert list(objects(swift_server, container)) == [shipped.path.split("/", 1)[1]]


def test_a_large_file_goes_up_in_segments_verified_by_the_slo_etag(
    swift_server: Any, tmp_path: Path
) -> None:
    container = new_container(swift_server)
    path = tmp_path / "big.events"
    path.write_bytes(os.urandom(2 * 1024 * 1024 + 12345))
    transfer = SwiftTransfer(url=f"swift://{container}", segment_size_mb=0.5, remove_local=True,
                             **transfer_options(swift_server))
    transfer.on_close(str(path))
    fs = new_fs(swift_server)
    head = fs.head(f"{container}/big.events")
    assert head["slo"] and head["size"] == 2 * 1024 * 1024 + 12345
    assert [int(s["bytes"]) for s in fs.manifest(f"{container}/big.events")] == [
        512 * 1024] * 4 + [12345]
    assert transfer.stats.as_dict()["read_back"] == 0, "the SLO ETag proved the content"
    assert not path.exists()


def test_an_object_cut_differently_is_read_back(swift_server: Any, tmp_path: Path) -> None:
    container = new_container(swift_server)
    path = tmp_path / "big.events"
    path.write_bytes(os.urandom(300_000))
    other = SwiftFileSystem(skip_instance_cache=True, segment_size=100_000, **login(swift_server))
    other.put_file(str(path), f"{container}/big.events")  # three segments of 100,000 bytes
    transfer = SwiftTransfer(url=f"swift://{container}", segment_size_mb=0.2,
                             **transfer_options(swift_server))
    shipped = transfer.ship(str(path))
    assert (shipped.uploaded, shipped.verified_by) == (False, "read-back")


def test_another_archive_under_the_same_name_is_never_overwritten(
    swift_server: Any, tmp_path: Path
) -> None:
    container = new_container(swift_server)
    first = make_archive(tmp_path / "one")
    second = make_archive(tmp_path / "two", records=9)
    transfer = SwiftTransfer(url=f"swift://{container}/x", **transfer_options(swift_server))
    transfer.on_close(first)
    transfer.on_close(second)
    assert objects(swift_server, container) == {"x/a.events": os.path.getsize(first),
                                                 "x/a~001.events": os.path.getsize(second)}


def test_a_missing_container_is_created_unless_told_not_to(
    swift_server: Any, tmp_path: Path
) -> None:
    name = f"shoebox-{uuid.uuid4().hex[:16]}"
    refused = SwiftTransfer(url=f"swift://{name}/p", create_container=False,
                            **transfer_options(swift_server))
    with pytest.raises(RemoteError, match="no such bucket or container .*create_containers"
                       ) as caught:
        refused.ship(make_archive(tmp_path / "one"))
    assert caught.value.permanent, "retrying cannot create it"
    SwiftTransfer(url=f"swift://{name}/p", **transfer_options(swift_server)).ship(
        make_archive(tmp_path / "two"))
    assert list(objects(swift_server, name)) == ["p/a.events"]


def test_reading_from_swift_by_pattern_in_order_compressed_or_not(
    swift_server: Any, tmp_path: Path
) -> None:
    container = new_container(swift_server)
    url = f"swift://{container}/events"
    records = [({"event": f"type{i % 3}", "i": str(i)}, f"payload {i}") for i in range(300)]
    transfer = SwiftTransfer(url=url, template="{event}/%Y/%m/%d/{name}", remove_local=True,
                             **transfer_options(swift_server))
    plain = SwiftTransfer(url=url, template="plain/{name}", remove_local=True,
                          **transfer_options(swift_server))
    with WritingRollManager("e_{seq}.events", CountRollChecker(roll_records=40),
                            str(tmp_path / "z"), [ZstdCallback(), transfer]) as writer:
        writer.write_many(records[:200])
    with WritingRollManager("e_{seq}.events", CountRollChecker(roll_records=40),
                            str(tmp_path / "p"), plain) as writer:
        for offset in range(200, 300):  # written later: read after the compressed ones
            writer.write(*records[offset])
    names = sorted(objects(swift_server, container))
    assert len(names) == 8 and sum(n.endswith(".zst") for n in names) == 5
    options = login(swift_server)
    assert list(ReadingRollManager(f"{url}/*/*/*/*/e_*.events", storage_options=options)) == (
        records[:200])
    assert list(ReadingRollManager(f"{url}/**/e_*.events", storage_options=options)) == records


def test_credentials_never_reach_the_log_or_repr(
    swift_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    container = new_container(swift_server)
    transfer = SwiftTransfer(url=f"swift://{container}/p", **transfer_options(swift_server))
    caplog.set_level(logging.DEBUG)
    transfer.on_close(make_archive(tmp_path / "ok"))
    swift_server.stop()
    try:
        with pytest.raises(CallbackError) as caught:
            ShippingChain([transfer]).on_close(make_archive(tmp_path / "down"))
    finally:
        swift_server.start()
    token = transfer.fs.connection.token
    assert token and token not in caplog.text and token not in str(caught.value)
    assert "'key': '***'" in repr(transfer) and swift_server.key not in repr(transfer)
    assert "X-Auth-Key" not in caplog.text


# -- end to end: the nova sample, size roll, zstd, Swift with removal, then read from Swift ----


def nova_pipeline(tmp_path: Path, container: str, server: Any,
                  **writer: Any) -> WritingRollManager:
    transfer = SwiftTransfer(url=f"swift://{container}/nova", template="{event}/%Y/%m/%d/{name}",
                             remove_local=True, segment_size_mb=1, **transfer_options(server))
    return WritingRollManager("nova_%Y%m%dT%H%M%S_{seq}.events", SizeRollChecker(roll_size_mb=4),
                              str(tmp_path / "spool"), [ZstdCallback(), transfer], **writer)


def test_end_to_end_nova_through_zstd_to_swift_and_back(
    swift_server: Any, tmp_path: Path, nova_records: list[tuple[dict[str, str], str]]
) -> None:
    container = new_container(swift_server)
    with nova_pipeline(tmp_path, container, swift_server) as writer:
        writer.write_many(nova_records)
    assert os.listdir(tmp_path / "spool") == [], "every local file removed after verification"
    names = list(objects(swift_server, container))
    assert len(names) == len(writer.sealed) >= 5 and all(n.endswith(".events.zst") for n in names)
    stats = writer.shipping_stats()
    assert (stats.files_done, stats.shipped_files, stats.files_failed) == (len(names),) * 2 + (0,)
    pattern = f"swift://{container}/nova/*/*/*/*/nova_*.events"
    reader = ReadingRollManager(pattern, storage_options=login(swift_server))
    assert list(reader) == nova_records
    # Opening an archive to sort by write order reads its header, not the whole object.
    sources = find_sources(pattern, storage_options=login(swift_server))
    biggest = max(sources, key=lambda s: s.size or 0)
    with biggest.open() as f:
        assert f.read(8)
        assert f.cache.total_requested_bytes < (biggest.size or 0) // 2


def test_swift_stopped_mid_run_loses_nothing_and_ships_everything_once(
    swift_server: Any, tmp_path: Path, nova_records: list[tuple[dict[str, str], str]]
) -> None:
    container = new_container(swift_server)
    records = nova_records[:6000]
    writer = nova_pipeline(
        tmp_path, container, swift_server, max_backlog=16,
        # A few attempts: a file that gives up during the outage ships later, unreported.
        retry={"max_attempts": 4, "initial_delay": 0.05, "max_delay": 0.3, "requeue_after": 0.5},
    )
    write_through_an_outage(writer, records, str(tmp_path / "spool"), ".zst",
                            swift_server.stop, swift_server.start)
    names = sorted(objects(swift_server, container))
    expected = sorted(os.path.basename(name) + ".zst" for name in writer.sealed)
    assert sorted(n.rsplit("/", 1)[1] for n in names) == expected, "one object per archive"
    assert not any("~" in n for n in names), "no archive uploaded twice under two names"
    reader = ReadingRollManager(f"swift://{container}/nova/*/*/*/*/nova_*.events",
                                storage_options=login(swift_server))
    assert list(reader) == records
    final = writer.shipping_stats()
    assert final.files_done == len(writer.sealed) and final.backlog == 0


# -- the command line: write to Swift, then ls, cat and verify from it ------------------------


class TestSwiftCommandLine(CliRoundTripContract):
    plugin = "swift"

    @pytest.fixture(autouse=True)
    def _server(self, swift_server: Any) -> None:
        self.server = swift_server

    def make_bucket(self) -> str:
        return f"swift://{new_container(self.server)}"

    def transfer_options(self) -> dict[str, str]:
        return {"auth_url": self.server.auth_url, "user": self.server.user,
                "key": self.secret_reference}

    def secret(self) -> str:
        return str(self.server.key)

    def environment(self) -> dict[str, str]:
        # Only what the test gives: no login of the user's from OS_* or ST_* variables.
        return {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}

    def read_access(self) -> tuple[list[str], dict[str, str]]:
        # The reader logs in from the environment, as the swift command line tool does.
        return [], {"ST_AUTH": self.server.auth_url, "ST_USER": self.server.user,
                    "ST_KEY": self.server.key}


# -- the transfer contract ------------------------------------------------------------------------


class TestSwiftTransferContract(TransferContract):
    @pytest.fixture(autouse=True)
    def _server(self, swift_server: Any) -> None:
        self.server = swift_server

    def make_transfer(self, tmp_path: Path, **options: Any) -> SwiftTransfer:
        container = new_container(self.server)
        return SwiftTransfer(url=f"swift://{container}/contract",
                             **transfer_options(self.server), **options)
