"""collect(): merging inboxes into zip destinations, once, with every failure reported."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from collect_helpers import contents, inbox_files, parts, sha, unzip_ok

from shoebox_collect import Inbox, collect
from shoebox_collect._records import StagedEntry, entry_meta
from shoebox_collect.destination import parse_destination


def test_rears_integration_scenario(base: Path, tmp_path: Path) -> None:
    made = tmp_path / "made-by-a-tool.bin"
    made.write_bytes(os.urandom(5000))
    os.chmod(made, 0o600)
    expected = {"b/bytes.bin": sha(b"\x00\x01" * 700), "b/text.txt": sha("ünïcode\n".encode()),
                "b/c/tool.bin": sha(made.read_bytes())}
    with Inbox(base, rotate_seconds=300) as inbox:
        with inbox.open("a.zip/b/bytes.bin", "wb") as f:
            f.write(b"\x00\x01" * 700)
        with inbox.open("a.zip/b/text.txt", "w") as f:
            f.write("ünïcode\n")
        inbox.pickup(made, "a.zip/b/c/tool.bin")
    assert not made.exists()
    report = collect(base)
    assert sorted(report.added) == sorted(f"a.zip/{n}" for n in expected)
    assert report.ok and report.inboxes_collected == 1 and report.parts_created == ["a.zip"]
    assert contents(base, "a.zip") == expected
    unzip_ok(base / "a.zip")
    assert inbox_files(base) == []
    with zipfile.ZipFile(base / "a.zip") as zf:
        assert zf.getinfo("b/c/tool.bin").external_attr >> 16 == 0o100600
        assert zf.getinfo("b/bytes.bin").external_attr >> 16 == 0o100644
        assert zf.read("b/text.txt").decode() == "ünïcode\n"


def test_mode_and_mtime_reach_the_zip_and_unzip_restores_them(base: Path, tmp_path: Path) -> None:
    with Inbox(base) as inbox:
        with inbox.open("a.zip/x/run.sh", "w", permissions=0o750, mtime=1_500_000_000) as f:
            f.write("#!/bin/sh\n")
    collect(base)
    with zipfile.ZipFile(base / "a.zip") as zf:
        info = zf.getinfo("x/run.sh")
    assert info.external_attr >> 16 == 0o100750
    if subprocess.run(["which", "unzip"], capture_output=True).returncode == 0:
        out = tmp_path / "out"
        subprocess.run(["unzip", "-q", str(base / "a.zip"), "-d", str(out)], check=True)
        st = os.stat(out / "x" / "run.sh")
        assert (st.st_mode & 0o777, int(st.st_mtime)) == (0o750, 1_500_000_000)


def test_collecting_twice_is_a_no_op(base: Path) -> None:
    with Inbox(base) as inbox:
        for n in range(20):
            inbox.put(f"a.zip/{n}.txt", str(n))
            inbox.put(f"b.zip/{n}.txt", str(n))
    first = collect(base)
    assert len(first.added) == 40
    before = {p.name: p.read_bytes() for p in base.glob("*.zip")}
    second = collect(base)
    assert (second.added, second.present, second.inboxes_collected) == ([], [], 0)
    assert {p.name: p.read_bytes() for p in base.glob("*.zip")} == before


def test_same_content_twice_is_stored_once_different_content_is_renamed(base: Path) -> None:
    with Inbox(base) as inbox:
        inbox.put("a.zip/d/out.txt", "one")
        inbox.put("a.zip/d/out.txt", "one")
        inbox.put("a.zip/d/out.txt", "two")
        inbox.put("a.zip/.profile", "p1")
        inbox.put("a.zip/.profile", "p2")
    report = collect(base)
    two, p2 = sha(b"two"), sha(b"p2")
    assert report.added == ["a.zip/d/out.txt", "a.zip/.profile"]
    assert report.present == ["a.zip/d/out.txt"]
    assert report.renamed == [("a.zip/d/out.txt", f"a.zip/d/out~{two[:12]}.txt"),
                              ("a.zip/.profile", f"a.zip/.profile~{p2[:12]}")]
    assert contents(base, "a.zip") == {
        "d/out.txt": sha(b"one"), f"d/out~{two[:12]}.txt": two,
        ".profile": sha(b"p1"), f".profile~{p2[:12]}": p2,
    }
    with Inbox(base) as inbox:  # later runs find the renamed copy too
        inbox.put("a.zip/d/out.txt", "two")
        inbox.put("a.zip/d/out.txt", "one")
    again = collect(base)
    assert (again.added, again.renamed) == ([], [])
    assert sorted(again.present) == ["a.zip/d/out.txt", f"a.zip/d/out~{two[:12]}.txt"]


def test_a_zip_made_by_another_tool_is_appended_to_and_its_entries_compared(base: Path) -> None:
    base.mkdir()
    with zipfile.ZipFile(base / "a.zip", "w") as zf:
        zf.writestr("old/kept.txt", "kept")
        zf.writestr("old/same.txt", "same")
    with Inbox(base) as inbox:
        inbox.put("a.zip/old/same.txt", "same")
        inbox.put("a.zip/old/kept.txt", "changed")
        inbox.put("a.zip/new.txt", "new")
    report = collect(base)
    assert report.present == ["a.zip/old/same.txt"]
    assert report.added == ["a.zip/new.txt"]
    assert [staged for staged, _ in report.renamed] == ["a.zip/old/kept.txt"]
    held = contents(base, "a.zip")
    assert held["old/kept.txt"] == sha(b"kept") and len(held) == 4
    unzip_ok(base / "a.zip")


def test_destinations_roll_to_numbered_parts_at_the_cap(base: Path) -> None:
    with Inbox(base) as inbox:
        for n in range(30):
            inbox.put(f"r.zip/{n:02d}.bin", os.urandom(10_000))
    report = collect(base, max_archive_bytes=50_000, compression="stored")
    found = parts(base, "r.zip")
    assert [p.name for p in found][:3] == ["r.zip", "r~002.zip", "r~003.zip"]
    assert report.parts_created == [p.name for p in found]
    assert all(p.stat().st_size <= 50_000 for p in found)
    assert len(contents(base, "r.zip")) == 30
    for path in found:
        unzip_ok(path)
    with Inbox(base) as inbox:  # already present in an earlier part: found there
        inbox.put("r.zip/00.bin", b"changed")
        inbox.put("r.zip/new.bin", b"n")
    again = collect(base, max_archive_bytes=50_000, compression="stored")
    assert again.added == ["r.zip/new.bin"] and len(again.renamed) == 1


def test_one_file_larger_than_the_cap_gets_a_part_alone(base: Path) -> None:
    with Inbox(base, chunk_bytes=4096) as inbox:
        inbox.put("r.zip/small", b"s")
        inbox.put("r.zip/huge", os.urandom(30_000))
        inbox.put("r.zip/after", b"a")
    collect(base, max_archive_bytes=10_000, compression="stored")
    names = [zipfile.ZipFile(p).namelist() for p in parts(base, "r.zip")]
    assert names == [["small"], ["huge"], ["after"]]


def _bad_record(inbox: Inbox, meta: dict[str, str], payload: bytes) -> None:
    inbox._write(meta, payload)


def test_a_bad_entry_is_quarantined_and_never_blocks_the_rest(base: Path) -> None:
    with Inbox(base) as inbox:
        inbox.put("a.zip/good1", b"g1")
        wrong = StagedEntry("900", parse_destination("a.zip/wrong-sha"), 3, 0o100644, 0,
                            "0" * 64, 0)
        _bad_record(inbox, entry_meta(wrong), b"abc")
        _bad_record(inbox, {"k": "file", "id": "901", "dest": "plain.txt"}, b"x")
        _bad_record(inbox, {"k": "mystery"}, b"?")
        inbox.put("a.zip/good2", b"g2")
    report = collect(base)
    assert sorted(report.added) == ["a.zip/good1", "a.zip/good2"]
    reasons = {q.what: q.reason for q in report.quarantined}
    assert "SHA-256" in reasons["a.zip/wrong-sha"]
    assert "plain.txt" in reasons["plain.txt"] and "not an archive" in reasons["plain.txt"]
    assert len(report.quarantined) == 3 and not report.ok
    kept = {q.what: Path(q.saved_as).read_bytes() for q in report.quarantined if q.saved_as}
    assert kept["a.zip/wrong-sha"] == b"abc"
    saved = [Path(q.saved_as) for q in report.quarantined if q.saved_as]
    assert len(set(saved)) == 3
    [wrong] = [p for p in saved if "wrong-sha" in p.name]
    assert "SHA-256" in Path(f"{wrong}.why").read_text()
    assert inbox_files(base) == []  # the inbox is done: its bad entries are set aside
    assert "quarantined: a.zip/wrong-sha" in report.summary()


def test_threads_staging_interleaved_chunked_files_into_one_inbox(base: Path) -> None:
    import threading

    expected: dict[str, str] = {}
    with Inbox(base, chunk_bytes=700) as inbox:
        barrier = threading.Barrier(4)

        def stage(t: int) -> None:
            barrier.wait()
            for n in range(40):
                data = os.urandom(100 + 97 * n)
                expected[f"t{t}/{n}"] = sha(data)
                with inbox.open(f"a.zip/t{t}/{n}", "wb") as f:
                    for start in range(0, len(data), 333):  # chunks of all threads interleave
                        f.write(data[start : start + 333])

        threads = [threading.Thread(target=stage, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    report = collect(base)
    assert len(report.added) == 160 and report.ok
    assert contents(base, "a.zip") == expected


def test_a_damaged_inbox_block_is_skipped_the_rest_collected_the_inbox_kept(base: Path) -> None:
    with Inbox(base) as inbox:
        for n in range(30):
            inbox.put(f"a.zip/{n:02d}", os.urandom(2000))
    [sealed] = inbox.sealed
    size = os.path.getsize(sealed)
    with open(sealed, "r+b") as f:  # flip bytes in the middle: one record's block is damaged
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    report = collect(base)
    assert 28 <= len(report.added) <= 29
    [aside] = [q for q in report.quarantined if q.what == "inbox"]
    assert "damaged" in aside.reason and Path(aside.saved_as).exists()
    assert inbox_files(base) == []
    assert collect(base).added == []


def test_a_destination_that_is_not_a_zip_keeps_its_files_and_blocks_no_other(base: Path) -> None:
    base.mkdir()
    (base / "bad.zip").write_bytes(b"this is not a zip file")
    with Inbox(base) as inbox:
        inbox.put("bad.zip/x", b"x")
        inbox.put("good.zip/y", b"y")
    report = collect(base)
    assert report.added == ["good.zip/y"]
    assert len(report.errors) == 1 and "bad.zip" in report.errors[0]
    assert (base / "bad.zip").read_bytes() == b"this is not a zip file"
    assert len(inbox_files(base)) == 1  # kept: its file for bad.zip is not collected yet
    (base / "bad.zip").rename(base / "moved-away")
    again = collect(base)
    assert again.added == ["bad.zip/x"] and again.present == ["good.zip/y"]
    assert inbox_files(base) == []


def test_large_entries_stream_through_with_flat_memory(base: Path) -> None:
    # A fresh process, so that its peak RSS is this job's: 60 MB staged and collected.
    script = f"""
import os, resource, sys
from shoebox_collect import Inbox, collect
block = os.urandom(1 << 20)
import shoebox_core.plugin
shoebox_core.plugin.get_plugin_manager().strategies()  # every installed plugin imported first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with Inbox({str(base)!r}) as inbox:
    with inbox.open("big.zip/a.bin", "wb") as f:
        for _ in range(60):
            f.write(block)
report = collect({str(base)!r})
assert report.added == ["big.zip/a.bin"], report
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr
    before_kib, peak_kib = map(int, ran.stdout.split()[-2:])
    # What staging and collecting added to the peak: far below the 60 MiB file.
    assert peak_kib - before_kib < 40 * 1024, (before_kib, peak_kib)
    assert (base / "big.zip").stat().st_size > 60 * (1 << 20)
    assert contents(base, "big.zip")["a.bin"]
    unzip_ok(base / "big.zip")


def test_bad_options_are_refused(base: Path) -> None:
    base.mkdir()
    with pytest.raises(ValueError, match="compression"):
        collect(base, compression="bzip9")
    with pytest.raises(ValueError, match="positive"):
        collect(base, max_archive_bytes=0)


def test_a_destination_another_collector_holds_is_deferred_then_collected(base: Path) -> None:
    import os as _os

    from shoebox_collect._layout import Layout, try_lock

    with Inbox(base) as inbox:
        inbox.put("held.zip/x", b"x")
        inbox.put("free.zip/y", b"y")
    layout = Layout.at(base)
    layout.make()
    fd = try_lock(_os.path.join(layout.locks, "held.zip.lock"))
    assert fd is not None
    try:
        report = collect(base, wait=0.3)
    finally:
        _os.close(fd)
    assert report.added == ["free.zip/y"] and len(report.deferred) == 1
    assert "deferred: 1 inbox archive(s)" in report.summary()
    assert len(inbox_files(base)) == 1
    again = collect(base)
    assert again.added == ["held.zip/x"] and again.present == ["free.zip/y"]
    assert inbox_files(base) == []


def test_empty_files_and_unicode_names_round_trip(base: Path) -> None:
    with Inbox(base) as inbox:
        inbox.put("a.zip/empty", b"")
        with inbox.open("a.zip/dossier été/résumé ☃.txt", "w") as f:
            f.write("ok")
    report = collect(base)
    assert sorted(report.added) == ["a.zip/dossier été/résumé ☃.txt", "a.zip/empty"]
    assert contents(base, "a.zip") == {"empty": sha(b""), "dossier été/résumé ☃.txt": sha(b"ok")}
    unzip_ok(base / "a.zip")


def test_a_dead_workers_inbox_with_an_unreadable_header_is_quarantined(base: Path) -> None:
    with Inbox(base) as inbox:
        inbox.put("a.zip/fine", b"f")
    torn = base / ".shoebox" / "inbox" / "20200101T000000Z_h_1_dead_000000.inbox.inprogress"
    torn.write_bytes(b"SBX2" + os.urandom(200))  # a header no reader can parse
    report = collect(base)
    assert report.added == ["a.zip/fine"]
    [aside] = report.quarantined
    assert aside.what == "inbox" and "header" in aside.reason
    assert Path(aside.saved_as).exists() and inbox_files(base) == []


def test_a_missing_first_part_does_not_stop_the_next_parts(base: Path) -> None:
    with Inbox(base) as inbox:
        for n in range(4):
            inbox.put(f"r.zip/{n}", os.urandom(6000))
    collect(base, max_archive_bytes=10_000, compression="stored")
    assert [p.name for p in parts(base, "r.zip")] == ["r.zip", "r~002.zip", "r~003.zip",
                                                       "r~004.zip"]
    (base / "r.zip").rename(base.parent / "r-moved-away.zip")
    with Inbox(base) as inbox:
        inbox.put("r.zip/new", os.urandom(6000))
    report = collect(base, max_archive_bytes=10_000, compression="stored")
    assert report.added == ["r.zip/new"] and report.parts_created == ["r~005.zip"]
