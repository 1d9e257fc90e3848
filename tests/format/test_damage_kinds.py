"""FORMAT.md's two kinds of damage, told by the report itself: ``truncated`` (the file ends
before something it must still hold) or ``corrupt`` (bytes that are there but wrong). Every
reason a lenient reader reports, and every format error's ``reason``, carries its ``kind``;
readers tell a cut tail from damage by it, never by the wording."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest

from shoebox_core.errors import CorruptArchive, DamageReason, TruncatedArchive
from shoebox_core.format.v1 import iter_records as iter_v1
from shoebox_core.read.inspection import verify_archive
from shoebox_core.read.manager import Damage, ReadingRollManager, read_archive
from shoebox_core.read.sources import Source
from tests.conftest import archive_layout, written_archive
from tests.format.legacy_v1_writer import pack_v1

RECORDS = [({"i": str(i)}, f"payload {i:04d}") for i in range(40)]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A sealed archive of 40 records in 4 blocks."""
    return written_archive(tmp_path / "k.events", RECORDS)


def lenient_reasons(path: Path) -> list[str]:
    reasons: list[str] = []
    list(read_archive(str(path), lenient=True,
                      report=lambda offset, skipped, reason: reasons.append(reason)))
    return reasons


def test_the_errors_say_their_kind_and_their_reason_carries_it() -> None:
    cut = TruncatedArchive("file ends inside a block", path="a", offset=9)
    bad = CorruptArchive("block checksum mismatch", path="a", offset=9)
    assert (cut.kind, bad.kind) == ("truncated", "corrupt")
    assert (cut.reason.kind, bad.reason.kind) == ("truncated", "corrupt")
    assert cut.reason == "file ends inside a block" and str(cut) == "a at byte 9: " + cut.reason
    copy = pickle.loads(pickle.dumps(cut.reason))  # reports cross processes (shoebox-dask)
    assert (copy, copy.kind) == ("file ends inside a block", "truncated")
    with pytest.raises(ValueError, match="'truncated' or 'corrupt'"):
        DamageReason("odd", "weird")


def test_a_cut_archive_is_reported_truncated(archive: Path, tmp_path: Path) -> None:
    blocks = archive_layout(archive)
    data = archive.read_bytes()
    for cut in (blocks[1]["offset"] + 3, blocks[2]["offset"], len(data) - 1):
        path = tmp_path / "cut.events"
        path.write_bytes(data[:cut])
        reasons = lenient_reasons(path)
        assert [r.kind for r in reasons] == ["truncated"], (cut, reasons)  # type: ignore[attr-defined]


def test_flipped_bytes_and_data_after_the_end_are_reported_corrupt(
    archive: Path, tmp_path: Path
) -> None:
    blocks = archive_layout(archive)
    data = bytearray(archive.read_bytes())
    data[blocks[1]["offset"] + 60] ^= 0xFF
    flipped = tmp_path / "flipped.events"
    flipped.write_bytes(bytes(data))
    doubled = tmp_path / "doubled.events"
    doubled.write_bytes(archive.read_bytes() * 2)
    for path in (flipped, doubled):
        reasons = lenient_reasons(path)
        assert [r.kind for r in reasons] == ["corrupt"], (path, reasons)  # type: ignore[attr-defined]


def test_a_v1_file_reports_the_same_two_kinds() -> None:
    good = b"".join(pack_v1(m, p) for m, p in RECORDS[:3])
    for data, kind in ((good[:-5], "truncated"), (good[:40] + b"\xff" * 8 + good[48:], "corrupt")):
        reasons: list[str] = []
        list(iter_v1(io.BytesIO(data), "old.events", lenient=True,
                     report=lambda offset, skipped, reason, into=reasons: into.append(reason)))
        assert [r.kind for r in reasons][:1] == [kind], reasons  # type: ignore[attr-defined]


def test_a_lenient_reader_lists_damage_with_its_kind(archive: Path, tmp_path: Path) -> None:
    data = archive.read_bytes()
    blocks = archive_layout(archive)
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.events").write_bytes(data[: blocks[2]["offset"] + 5])
    damaged = bytearray(data)
    damaged[blocks[1]["offset"] + 60] ^= 0xFF
    (spool / "b.events").write_bytes(bytes(damaged))
    reader = ReadingRollManager(str(spool / "*.events"), lenient=True)
    list(reader)
    assert [(Path(d.path).name, d.kind) for d in reader.damage] == [
        ("a.events", "truncated"), ("b.events", "corrupt")]
    assert Damage("x", 0, 0, "no kind given").kind is None


def test_verify_allows_a_cut_tail_only_to_a_file_in_progress(
    archive: Path, tmp_path: Path
) -> None:
    blocks = archive_layout(archive)
    data = archive.read_bytes()
    live = tmp_path / "live.events.inprogress"
    live.write_bytes(data[: blocks[2]["offset"] + 5])
    sealed = tmp_path / "cut.events"
    sealed.write_bytes(data[: blocks[2]["offset"] + 5])
    assert verify_archive(Source(str(live), live.stat().st_size)).damage == []
    verdict = verify_archive(Source(str(sealed), sealed.stat().st_size))
    assert [d.kind for d in verdict.damage] == ["truncated"]
