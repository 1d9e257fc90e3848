"""File naming: templates, sequence numbers, collisions, in-progress names, refused templates."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import socket
import time
from datetime import datetime, timezone

import pytest

from shoebox_core.errors import ConfigError
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.naming import TemplateNamer, reserve

WHEN = 1_700_000_000.123456  # 2023-11-14 22:13:20.123456 UTC


@contextlib.contextmanager
def local_zone(zone: str):
    """Run with the process's local time zone set to ``zone``."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_strftime_codes_are_expanded_in_utc_with_microseconds():
    with local_zone("America/New_York"):
        namer = TemplateNamer(template="ev_%Y%m%dT%H%M%S.%f_%j.events")
        assert namer.name(when=WHEN, seq=0) == "ev_20231114T221320.123456_318.events"


def test_unsafe_characters_from_strftime_become_underscores():
    name = TemplateNamer(template="test_%c.events").name(when=WHEN, seq=0)
    assert name == "test_Tue_Nov_14_22_13_20_2023.events"
    assert TemplateNamer(template="a_%X.events").name(when=WHEN, seq=0) == "a_22_13_20.events"
    assert TemplateNamer(template="a_%D.events").name(when=WHEN, seq=0) == "a_11_14_23.events"


def test_seq_is_zero_padded_and_takes_a_format_spec():
    assert TemplateNamer(template="a_{seq}.events").name(when=0, seq=7) == "a_000007.events"
    assert TemplateNamer(template="a_{seq:03d}.x").name(when=0, seq=7) == "a_007.x"
    assert TemplateNamer(template="a_{seq}.events").name(when=0, seq=1234567) == (
        "a_1234567.events"
    )


def test_literal_braces_and_percent():
    namer = TemplateNamer(template="{{x}}_100%%_{seq}.events")
    assert namer.name(when=0, seq=1) == "{x}_100%_000001.events"


def test_host_and_pid():
    namer = TemplateNamer(template="{host}_{pid}_{seq}.events", host="web 1/a:b", pid=42)
    assert namer.name(when=0, seq=3) == "web_1_a_b_42_000003.events"
    default = TemplateNamer(template="{host}-{pid}.events")
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
    assert default.name(when=0, seq=0) == f"{host}-{os.getpid()}.events"


def test_seq_continues_from_existing_files_after_a_restart(tmp_path, fake_clock):
    def run(n):
        with WritingRollManager("ev_%Y%m%d_{seq}.events", CountRollChecker(roll_records=1),
                                str(tmp_path), clock=fake_clock) as writer:
            for i in range(n):
                writer.write({}, str(i))
                fake_clock.advance(86_400)  # the date part changes too
        return [os.path.basename(p) for p in writer.sealed]

    first = run(3)
    assert [n.rsplit("_", 1)[1] for n in first] == ["000000.events", "000001.events",
                                                     "000002.events"]
    # Decorated names count too: compressed, in progress, collision alternatives.
    with gzip.open(tmp_path / "ev_20000101_000007.events.gz", "wb") as f:
        f.write(b"")
    (tmp_path / "ev_20000101_000009~001.events").write_bytes(b"")
    (tmp_path / "unrelated_000099.events").write_bytes(b"")
    second = run(2)
    assert [n.rsplit("_", 1)[1] for n in second] == ["000010.events", "000011.events"]
    assert sorted(first + second) == first + second


def test_next_seq_sees_through_name_decorations():
    namer = TemplateNamer(template="ev_%Y%m%d_{seq}.events")
    names = ["ev_20000101_000003.events", "ev_20000101_000007.events.gz",
             "ev_20000101_000009~001.events.zst", "ev_20000101_000011.events.inprogress",
             "unrelated_000099.events", "ev_20000101_000099.other"]
    assert namer.next_seq(names) == 12
    assert namer.next_seq([]) == 0
    assert TemplateNamer(template="ev_%Y.events").next_seq(names) == 0


def test_a_second_roll_in_the_same_second_gets_a_collision_name(tmp_path, fake_clock):
    with WritingRollManager("ev_%Y%m%d%H%M%S.events", CountRollChecker(roll_records=1),
                            str(tmp_path), clock=fake_clock) as writer:
        for i in range(12):
            writer.write({"i": str(i)}, f"payload {i}")
        fake_clock.advance(1)
        writer.write({"i": "12"}, "payload 12")
    names = [os.path.basename(p) for p in writer.sealed]
    assert names[:3] == ["ev_20231112235958.events", "ev_20231112235958~001.events",
                         "ev_20231112235958~002.events"]
    assert names[11] == "ev_20231112235958~011.events"
    assert names[12] == "ev_20231112235959.events"
    assert all(n.endswith(".events") for n in names)
    assert sorted(names) == names  # alternatives sort after the original, in order taken
    # Nothing was overwritten: every file holds its own record.
    assert [list(read_archive(p)) for p in writer.sealed] == [
        [({"i": str(i)}, f"payload {i}")] for i in range(13)
    ]


def test_a_restart_in_the_same_second_never_overwrites(tmp_path, fake_clock):
    for run in range(3):
        with WritingRollManager("ev_%Y%m%d%H%M%S.events", None, str(tmp_path),
                                clock=fake_clock) as writer:
            writer.write({}, f"run {run}")
    names = sorted(os.listdir(tmp_path))
    assert names == ["ev_20231112235958.events", "ev_20231112235958~001.events",
                     "ev_20231112235958~002.events"]
    assert [list(read_archive(str(tmp_path / n))) for n in names] == [
        [({}, "run 0")], [({}, "run 1")], [({}, "run 2")]
    ]


def test_a_name_whose_compressed_copy_exists_is_not_reused(tmp_path, fake_clock):
    """``a.events.gz`` holds an earlier ``a.events``: writing a new ``a.events`` beside it would
    make it look like an uncompressed twin of the old data."""
    with WritingRollManager("a.events", None, str(tmp_path), clock=fake_clock) as writer:
        writer.write({}, "old")
    with open(tmp_path / "a.events", "rb") as src, gzip.open(tmp_path / "a.events.gz", "wb") as dst:
        dst.write(src.read())
    os.unlink(tmp_path / "a.events")
    with WritingRollManager("a.events", None, str(tmp_path), clock=fake_clock) as writer:
        writer.write({}, "new")
    assert sorted(os.listdir(tmp_path)) == ["a.events.gz", "a~001.events"]
    assert list(ReadingRollManager("a*.events", str(tmp_path))) == [({}, "old"), ({}, "new")]


def test_names_sort_in_write_order(tmp_path, fake_clock):
    with WritingRollManager("ev_%Y%m%dT%H%M%S.%f_{seq}.events", CountRollChecker(roll_records=2),
                            str(tmp_path), clock=fake_clock) as writer:
        for i in range(30):
            writer.write({}, str(i))
            fake_clock.advance(0.25 if i % 3 else 3600.5)
    names = [os.path.basename(p) for p in writer.sealed]
    assert len(names) == 15 and sorted(names) == names


def test_the_active_file_has_the_inprogress_name_until_sealed(tmp_path, recorder):
    writer = WritingRollManager("x_{seq}.events", CountRollChecker(roll_records=2),
                                str(tmp_path), recorder)
    # Journals (*.state) follow each file's on-close chain until it completes: not archives.
    def archives() -> list[str]:
        return sorted(n for n in os.listdir(tmp_path) if not n.endswith(".state"))

    writer.write({}, "1")
    assert archives() == ["x_000000.events.inprogress"]
    assert recorder.opened == [str(tmp_path / "x_000000.events")]  # callbacks see final names
    writer.write({}, "2")
    assert archives() == ["x_000000.events"]
    writer.write({}, "3")
    writer.flush()
    assert archives() == ["x_000000.events", "x_000001.events.inprogress"]
    # Readers leave in-progress files out unless asked.
    assert list(ReadingRollManager("x_*.events", str(tmp_path))) == [({}, "1"), ({}, "2")]
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["x_000000.events", "x_000001.events"]


def test_reserve_never_touches_an_existing_file(tmp_path):
    (tmp_path / "a.events").write_bytes(b"precious")
    (tmp_path / "a~001.events.inprogress").write_bytes(b"someone else's")
    fd, temp, final = reserve(str(tmp_path), "a.events")
    os.close(fd)
    assert final == str(tmp_path / "a~002.events")
    assert temp == final + ".inprogress"
    assert (tmp_path / "a.events").read_bytes() == b"precious"
    assert (tmp_path / "a~001.events.inprogress").read_bytes() == b"someone else's"


@pytest.mark.parametrize(
    "template",
    [
        "sub/ev_%Y.events",
        "../ev_%Y.events",
        "/abs/ev.events",
        "a\\b.events",
        "..",
        "..%Y.events",
        "ev_{date}.events",
        "ev_{seq.events",
        "ev_seq}.events",
        "ev_{}.events",
        "ev_{seq:q}.events",
        "ev_100%",
        "",
    ],
)
def test_bad_templates_are_refused_naming_the_template(template):
    with pytest.raises(ConfigError) as info:
        TemplateNamer(template=template)
    assert repr(template) in str(info.value)


def test_a_writer_with_a_bad_template_fails_at_construction(tmp_path):
    with pytest.raises(ConfigError, match="unknown field"):
        WritingRollManager("ev_{nope}.events", None, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_utc_is_used_for_names_whatever_the_local_zone(tmp_path, fake_clock):
    with local_zone("Asia/Kolkata"):
        with WritingRollManager("d_%Y%m%d_%H%M.events", None, str(tmp_path),
                                clock=fake_clock) as writer:
            writer.write({}, "x")
    expected = datetime.fromtimestamp(fake_clock.time(), timezone.utc).strftime("%Y%m%d_%H%M")
    assert os.listdir(tmp_path) == [f"d_{expected}.events"] == ["d_20231112_2359.events"]


def test_a_name_whose_journal_remains_is_taken_and_counts_for_seq(tmp_path):
    """An archive shipped and removed locally may still have its journal: its name and seq stay
    taken, so a new archive never shares a journal with an unfinished one."""
    from shoebox_core.write.naming import TemplateNamer, reserve

    (tmp_path / "s_000004.events.state").write_text("{}")
    namer = TemplateNamer(template="s_{seq}.events")
    assert namer.next_seq(os.listdir(tmp_path)) == 5
    fd, _temp, final = reserve(str(tmp_path), "s_000004.events")
    os.close(fd)
    assert final == str(tmp_path / "s_000004~001.events")
