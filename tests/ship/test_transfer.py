"""The core's transfer over any fsspec file system: names, verification, no duplicates, removal."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import fsspec
import pytest

from shoebox_core import plugin as plugins
from shoebox_core.clock import FakeClock
from shoebox_core.errors import CallbackError, ConfigError, PluginError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.ship.journal import Journal, StepContext, running_step, save_journal
from shoebox_core.ship.object_names import ObjectNameError, ObjectNamer, check_key
from shoebox_core.ship.transfer import (
    Transfer,
    TransferError,
    VerificationError,
    archive_facts,
    digest_file,
)
from shoebox_core.testing.callbacks import CallbackContract
from shoebox_core.testing.transfers import TransferContract
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager

# 2023-11-12 23:59:58 UTC
CREATED = 1_699_833_598.0


def memory_url() -> str:
    return f"memory://shoebox-tests/{uuid.uuid4().hex}"


def make_archive(directory: Path, name: str = "a.events", metadata: dict[str, str] | None = None,
                 records: int = 3, created: float = CREATED) -> str:
    """A sealed archive written with a fake clock at ``created``."""
    clock = FakeClock(start=created)
    with WritingRollManager(name, None, str(directory), clock=clock) as writer:
        for i in range(records):
            writer.write({**(metadata or {}), "i": str(i)}, f"payload {i}")
    return str(directory / name)


def listing(url: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(url)
    return {path[len(root.rstrip("/")) + 1 :]: fs.cat_file(path) for path in fs.find(root)}


# -- object names ---------------------------------------------------------------------------------


def test_names_use_the_archive_creation_time_in_utc_never_now(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, metadata={"event_type": "compute.instance.create.end"})
    namer = ObjectNamer("{event_type}/%Y/%m/%d/%H%M%S/{name}")
    facts = archive_facts(archive, metadata=True)
    assert facts.created_ns == int(CREATED * 1e9)
    assert namer.render(facts) == "compute.instance.create.end/2023/11/12/235958/a.events"
    os.utime(archive, (0, 0))  # the file's times do not matter: the header does
    assert namer.render(archive_facts(archive, metadata=True)) == namer.render(facts)


def test_declared_fields_win_and_builtin_fields_come_from_the_header(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, metadata={"env": "from-record"})
    facts = archive_facts(archive, "a.events.zst", metadata=True)
    namer = ObjectNamer("{env}/{host}/{seq:04d}/{name}", fields={"env": "prod"})
    assert namer.render(facts) == f"prod/{facts.host}/0000/a.events.zst"
    assert facts.host and ":" not in facts.host


@pytest.mark.parametrize(
    "value, problem",
    [
        ("../../etc", "path separator"),
        ("..", "'..'"),
        (".", "'.'"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("", "empty"),
        ("tab\there", "control character"),
        ("nul\x00", "control character"),
        ("line\u2028sep", "control character"),
    ],
)
def test_a_metadata_value_can_never_leave_the_prefix(
    tmp_path: Path, value: str, problem: str
) -> None:
    archive = make_archive(tmp_path, metadata={"event_type": value})
    with pytest.raises(ObjectNameError, match=problem) as caught:
        ObjectNamer("{event_type}/{name}").render(archive_facts(archive, metadata=True))
    assert caught.value.permanent


def test_a_missing_field_is_an_error_unless_a_default_is_set(tmp_path: Path) -> None:
    archive = make_archive(tmp_path)
    facts = archive_facts(archive, metadata=True)
    with pytest.raises(ObjectNameError, match="no metadata key 'event_type'"):
        ObjectNamer("{event_type}/{name}").render(facts)
    assert ObjectNamer("{event_type}/{name}", missing="unknown").render(facts) == (
        "unknown/a.events"
    )


@pytest.mark.parametrize(
    "template, message",
    [
        ("/abs/{name}", "relative"),
        ("%Y/%m", "must contain {name}"),
        ("{0}/{name}", "plain name"),
        ("{a.b}/{name}", "plain name"),
        ("{name!r}", "conversions"),
        ("{name", "template"),
        ("", "non-empty"),
    ],
)
def test_bad_templates_are_config_errors(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ObjectNamer(template)


def test_rendered_keys_are_checked_segment_by_segment() -> None:
    for key in ("a//b", "a/./b", "a/../b", "/a", "a/", ""):
        with pytest.raises(ObjectNameError):
            check_key(key)
    assert check_key("a/b/c.events") == "a/b/c.events"
    with pytest.raises(ConfigError, match="fields"):
        ObjectNamer("{x}/{name}", fields={"x": "../up"})


# -- uploading and verifying ----------------------------------------------------------------------


def test_upload_is_verified_and_the_local_file_removed_only_when_asked(tmp_path: Path) -> None:
    archive = make_archive(tmp_path)
    url = memory_url()
    keep = Transfer(url=url, template="%Y/{name}")
    assert keep.on_close(archive) is None
    assert os.path.exists(archive), "remove_local is off by default"
    assert listing(url) == {"2023/a.events": Path(archive).read_bytes()}
    assert keep.stats.as_dict()["files"] == 1

    removing = Transfer(url=url, template="%Y/{name}", remove_local="true")
    removing.on_close(archive)
    assert not os.path.exists(archive)
    # Found there already and verified: not uploaded a second time.
    assert removing.stats.as_dict()["already_present"] == 1
    assert removing.stats.as_dict()["files"] == 0 and len(listing(url)) == 1


def test_a_copy_that_does_not_verify_keeps_the_local_file(tmp_path: Path) -> None:
    archive = make_archive(tmp_path)

    class Corrupting(Transfer):
        def upload(self, local: str, remote: str, digest: Any) -> None:
            data = bytearray(Path(local).read_bytes())
            data[len(data) // 2] ^= 0xFF
            self.fs.pipe_file(remote, bytes(data))

    transfer = Corrupting(url=memory_url(), remove_local=True)
    with pytest.raises(VerificationError, match="does not match"):
        transfer.on_close(archive)
    assert os.path.exists(archive)
    assert transfer.stats.as_dict()["read_back"] >= 1


def test_another_archive_under_the_same_name_is_never_overwritten(tmp_path: Path) -> None:
    url = memory_url()
    first = make_archive(tmp_path / "one")
    second = make_archive(tmp_path / "two", records=5)  # same name, other content
    transfer = Transfer(url=url)
    transfer.on_close(first)
    transfer.on_close(second)
    assert listing(url) == {
        "a.events": Path(first).read_bytes(),
        "a~001.events": Path(second).read_bytes(),
    }
    transfer.on_close(second)  # a retry finds its own copy, under the name it got
    assert len(listing(url)) == 2 and transfer.stats.as_dict()["collisions"] == 2


def test_an_interrupted_upload_noted_in_the_journal_is_overwritten_in_place(
    tmp_path: Path,
) -> None:
    url = memory_url()
    archive = make_archive(tmp_path)
    transfer = Transfer(url=url)
    fs, root = fsspec.core.url_to_fs(url)
    partial = Path(archive).read_bytes()[:50]
    fs.pipe_file(f"{root}/a.events", partial)  # what a killed upload left
    journal = Journal.new(archive, state="sealed")
    journal.steps = ["fsspec"]
    journal.note(0).update(phase="uploading", path=f"{root}/a.events")
    save_journal(journal)
    with running_step(StepContext(journal, 0, save_journal)):
        transfer.on_close(archive)
    assert listing(url) == {"a.events": Path(archive).read_bytes()}, "no a~001.events"
    assert journal.note(0)["phase"] == "verified" and journal.note(0)["completed"] is True
    # Outside the journal the same partial object would be someone else's: left alone.
    fs.pipe_file(f"{root}/a.events", partial)
    transfer.on_close(archive)
    assert sorted(listing(url)) == ["a.events", "a~001.events"]


def test_a_local_directory_and_the_fsspec_name(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "spool")
    transfer = plugins.create_transfer("fsspec", url=str(tmp_path / "remote"),
                                       template="%Y/%m/{name}", remove_local="yes")
    assert isinstance(transfer, Transfer)
    transfer.on_close(archive)
    assert (tmp_path / "remote" / "2023" / "11" / "a.events").exists()
    assert not os.path.exists(archive)
    with pytest.raises(PluginError, match="accepted options"):
        plugins.create_transfer("fsspec", url="memory://x", templat="{name}")
    with pytest.raises(PluginError, match="verify"):
        plugins.create_transfer("fsspec", url="memory://x", verify="maybe")


def test_digest_parts_and_multipart_etag(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "blob"
    data = os.urandom(2_500_000)
    path.write_bytes(data)
    digest = digest_file(str(path), part_size=1_000_000)
    parts = [hashlib.md5(data[i : i + 1_000_000]).digest() for i in range(0, len(data), 1_000_000)]
    assert digest.part_md5s == tuple(parts)
    assert digest.multipart_etag() == hashlib.md5(b"".join(parts)).hexdigest() + "-3"
    assert digest.md5 == hashlib.md5(data).hexdigest() and digest.size == len(data)


def test_repr_never_shows_secrets() -> None:
    transfer = Transfer(url="memory://x", storage_options={"secret": "hunter2", "token": "t0k",
                                                          "client_kwargs": {"aws_secret": "s"}})
    text = repr(transfer)
    assert "hunter2" not in text and "t0k" not in text and "'s'" not in text
    assert "memory://x" in text


def test_a_bad_object_name_stops_the_chain_and_keeps_the_file(tmp_path: Path) -> None:
    url = memory_url()
    writer = WritingRollManager("n_{seq}.events", CountRollChecker(roll_records=2),
                                str(tmp_path), Transfer(url=url, template="{kind}/{name}",
                                                        remove_local=True))
    writer.write({"kind": "../escape"}, "x")
    writer.write({"kind": "../escape"}, "y")
    with pytest.raises(CallbackError, match="path separator"):
        writer.close()
    assert listing(url) == {}
    assert (tmp_path / "n_000000.events").exists()
    assert writer.shipping_stats().retries == 0, "a bad name is not retried"


# -- the callback contract ------------------------------------------------------------------------


class TestTransferContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> Transfer:
        return Transfer(url=memory_url())


class TestRemovingTransferContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> Transfer:
        return Transfer(url=memory_url(), remove_local=True)


# -- reading back from the remote -----------------------------------------------------------------


def test_a_pipeline_to_memory_reads_back_every_record_in_order(tmp_path: Path) -> None:
    url = memory_url()
    clock = FakeClock(start=CREATED)
    transfer = Transfer(url=url, template="{event}/%Y%m%d/{name}", remove_local=True)
    records = [({"event": f"e{i % 3}", "i": str(i)}, f"payload {i}") for i in range(100)]
    with WritingRollManager("m_{seq}.events", CountRollChecker(roll_records=7), str(tmp_path),
                            [ZstdCallback(), transfer], clock=clock) as writer:
        for metadata, payload in records:
            writer.write(metadata, payload)
            clock.advance(1)
    assert os.listdir(tmp_path) == [], "every local file was removed after its verified upload"
    names = sorted(listing(url))
    assert len(names) == 15 and all(n.endswith(".events.zst") for n in names)
    day = datetime.fromtimestamp(CREATED, tz=timezone.utc).strftime("%Y%m%d")
    assert names[0] == f"e0/{day}/m_000000.events.zst"
    reader = ReadingRollManager(f"{url}/*/*/m_*.events")
    assert list(reader) == records
    stats = writer.shipping_stats()
    assert (stats.files_done, stats.shipped_files, stats.backlog) == (15, 15, 0)
    assert stats.shipped_bytes == sum(len(v) for v in listing(url).values())


def test_a_transfer_error_is_a_transfer_error() -> None:
    assert issubclass(VerificationError, TransferError)


# -- the transfer contract, as every transfer plugin runs it ---------------------------------------


class TestMemoryTransferContract(TransferContract):
    def make_transfer(self, tmp_path: Path, **options: Any) -> Transfer:
        return Transfer(url=memory_url(), **options)


class TestDirectoryTransferContract(TransferContract):
    def make_transfer(self, tmp_path: Path, **options: Any) -> Transfer:
        return Transfer(url=str(tmp_path / f"remote-{uuid.uuid4().hex}"), **options)


# -- store transfers: declare only their own options ---------------------------------------------


@plugins.with_base_options
class BucketTransfer(Transfer):
    """A store transfer as the S3 and Swift plugins write one: its own options only."""

    name = "bucket"
    schemes = ("memory",)

    def __init__(self, *, region: str = "here", template: str = "{region}/{name}",
                 storage_options: Any = None, **base: Any) -> None:
        self.region = region
        options = self.store_options(storage_options, region=region, endpoint=None, extra={})
        super().__init__(template=template, fields={"region": region},
                         storage_options=options, **base)


def test_a_store_transfer_takes_the_base_options_without_declaring_them(tmp_path: Path) -> None:
    import inspect

    params = inspect.signature(BucketTransfer).parameters
    assert list(params) == ["url", "template", "fields", "missing", "remove_local", "verify",
                            "storage_options", "region"]
    assert params["template"].default == "{region}/{name}"  # its own version wins, in place
    transfer = BucketTransfer(url=f"{memory_url()}/x", region="eu", remove_local="yes")
    assert transfer.remove_local and transfer.storage_options == {"region": "eu"}
    manager = plugins.fresh_plugin_manager(entry_points=False)
    manager.register(type("P", (), {"shoebox_transfers": plugins.hookimpl(
        lambda self: [plugins.Strategy("bucket", BucketTransfer, "x")])})())
    with pytest.raises(PluginError, match="did you mean 'remove_local' instead of 'remove_locl'"):
        manager.create_transfer("bucket", url="memory://b", remove_locl=True)
    # A config file's values are checked against the base's annotations too.
    from shoebox_core.config.pipeline import load_pipeline

    config = {"template": "a_{seq}.events",
              "on_close": [{"plugin": "bucket", "url": "memory://b", "verify": 3}]}
    with pytest.raises(ConfigError, match="option 'verify' must be a string, got integer 3"):
        load_pipeline(config, plugin_manager=manager)


def test_the_store_transfers_declare_none_of_the_base_options_again() -> None:
    import inspect

    from shoebox_s3 import S3Transfer
    from shoebox_swift.transfer import SwiftTransfer

    base = list(inspect.signature(Transfer).parameters)
    for cls in (S3Transfer, SwiftTransfer):
        code = cls.__init__.__code__  # what the source declares, not the signature it shows
        declared = set(code.co_varnames[1 : 1 + code.co_kwonlyargcount])
        assert declared & set(base) == {"storage_options"}, cls  # merged into its own options
        assert list(inspect.signature(cls).parameters)[: len(base)] == base, cls


def test_a_store_transfer_checks_its_url_scheme_and_root() -> None:
    with pytest.raises(ConfigError, match=r"BucketTransfer: option 'url' must be "
                       r"memory://bucket\[/prefix\], got 's3://b'"):
        BucketTransfer(url="s3://b")
    with pytest.raises(ConfigError, match="option 'url' names no bucket: 'memory://'"):
        BucketTransfer(url="memory://")
    with pytest.raises(ConfigError, match="must be memory://bucket"):
        BucketTransfer(url=5)  # type: ignore[arg-type]


def test_store_options_keep_only_what_was_set() -> None:
    given = {"a": 1}
    options = Transfer.store_options(given, key="k", token=None, table={"x": 1}, empty={})
    assert options == {"a": 1, "key": "k", "table": {"x": 1}} and given == {"a": 1}
    metadata = Transfer.object_metadata(digest_file(__file__))
    assert set(metadata) == {"shoebox-md5", "shoebox-crc32c", "shoebox-size"}
