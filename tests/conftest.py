"""Shared fixtures: the sample data, a recording callback, a fake clock and archive helpers."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import msgpack
import pytest

from shoebox_core.clock import FakeClock
from shoebox_core.format import v2 as _v2
from shoebox_core.ship.callbacks import ArchiveCallback

pytest_plugins = ["shoebox_core.testing.servers"]

REPO = Path(__file__).resolve().parents[1]

# Sunday 2023-11-12 23:59:58 UTC: two seconds before a day (and weekday) change.
SUNDAY_NIGHT = 1_699_833_598.0


class RecordingCallback(ArchiveCallback):
    """Remembers every on_open / on_close it sees, in order (as stacktach-shoebox's tests did)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple[str, str]] = []
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.active: dict[str, bool] = {}

    def on_open(self, filename: str) -> None:
        self.events.append(("open", filename))
        self.opened.append(filename)
        self.active[filename] = True

    def on_close(self, filename: str) -> None:
        self.events.append(("close", filename))
        self.closed.append(filename)
        self.active[filename] = False


def archive_layout(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Walk the blocks of a sealed, uncompressed v2 archive (independently of the reader).

    Returns one dict per block: ``offset``, ``end``, ``kind``, ``count``, ``codec`` and, for
    uncompressed record blocks, ``records`` (the raw msgpack-decoded records).
    """
    data = Path(path).read_bytes()
    fixed = _v2.FILE_HEADER.unpack_from(data)
    offset = _v2.FILE_HEADER.size + fixed[3] + 4
    blocks = []
    while offset < len(data):
        sync, stored, raw_len, count, kind, codec, flags, crc = _v2.BLOCK_HEADER.unpack_from(
            data, offset
        )
        body_start = offset + _v2.BLOCK_HEADER_SIZE
        body = data[body_start : body_start + stored]
        block = {"offset": offset, "end": body_start + stored, "kind": kind, "count": count,
                 "codec": codec}
        if kind == _v2.KIND_RECORDS and codec == _v2.CODEC_NONE:
            block["records"] = msgpack.unpackb(body, raw=False, use_list=False)
        blocks.append(block)
        offset = body_start + stored
    return blocks


def packed_size(record: tuple[Any, Any]) -> int:
    """Bytes one ``(metadata, payload)`` record takes inside a block body."""
    return len(msgpack.packb(tuple(record), use_bin_type=True))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared sample data directory (``SHOEBOX_SHARED_DATA`` overrides it)."""
    return Path(os.environ.get("SHOEBOX_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def nova_records(shared_data: Path) -> list[tuple[dict[str, str], str]]:
    """The 10,000 nova notifications as ``(metadata, payload)``, as stacktach-shoebox wrote them."""
    records = []
    with gzip.open(shared_data / "nova-notifications.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            metadata = {
                "event": e["event_type"],
                "request_id": e["_context_request_id"] or "",
                "generated": str(e["timestamp"]),
                "uuid": e["payload"].get("instance_id") or "",
            }
            records.append((metadata, json.dumps(e, sort_keys=True)))
    assert len(records) == 10_000
    return records


@pytest.fixture
def recorder() -> RecordingCallback:
    """A fresh recording callback."""
    return RecordingCallback()


@pytest.fixture
def recorder_cls() -> type[RecordingCallback]:
    """The recording callback class, for tests that need several."""
    return RecordingCallback


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when told to (starts two seconds before a day change, UTC)."""
    return FakeClock(start=SUNDAY_NIGHT)


@pytest.fixture
def layout():
    """``archive_layout`` as a fixture (see its docstring)."""
    return archive_layout


@pytest.fixture
def record_size():
    """``packed_size`` as a fixture."""
    return packed_size
