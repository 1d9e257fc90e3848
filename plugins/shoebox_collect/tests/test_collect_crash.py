"""Real processes killed with SIGKILL while staging and while collecting."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

from collect_helpers import contents, inbox_files, sha, unzip_ok
from collect_killer import Ended, run_killed
from collect_workers import content, stage

from shoebox_collect import Inbox, collect
from shoebox_collect._layout import Layout
from shoebox_collect.journal import undo

HERE = Path(__file__).parent


def _stage(step: int, base: Path, worker: int, count: int) -> Ended:
    return run_killed(step, stage, str(base), worker, count, 300.0)


def _collect(step: int, base: Path, cap: int) -> Ended:
    def job() -> None:
        print(collect(base, max_archive_bytes=cap).summary())

    return run_killed(step, job)


def _steps(ended: Ended) -> int:
    assert ended.status == 0 and ended.steps, ended.output
    return ended.steps


def _aim(total: int, points: int) -> list[int]:
    """About ``points`` step numbers spread over 1..total, with the first and last few."""
    spread = {1 + (total - 1) * i // (points - 1) for i in range(points)}
    return sorted(spread | {1, 2, 3, total - 2, total - 1, total} - {0})


def _worker_files(held: dict[str, str], worker: int) -> list[int]:
    names = sorted(name for name in held if name.startswith(f"w{worker}/"))
    for name in names:
        n = int(name.split("/f")[1].split(".")[0])
        assert held[name] == sha(content(worker, n)), name
    return [int(name.split("/f")[1].split(".")[0]) for name in names]


def test_a_worker_killed_at_every_step_of_staging_loses_no_completed_file(base: Path) -> None:
    # The first run is whole, and counts the steps each later one is killed at (every one).
    Layout.at(base).make()
    total = _steps(_stage(0, base, 999, 12))
    points = list(range(1, total + 1))
    done: dict[int, int] = {999: 12}
    for worker, step in enumerate(points):
        ended = _stage(step, base, worker, 12)
        assert ended.status == -signal.SIGKILL, (step, ended.output)
        done[worker] = ended.output.count("done ")
    report = collect(base)
    assert report.recovered >= 1 and report.errors == []
    held = contents(base, "out.zip")
    for worker, finished in done.items():
        stored = _worker_files(held, worker)
        # Each file reported done is there; at most the one it was killed before reporting
        # also is; files are stored whole and in order, none twice.
        assert stored == list(range(len(stored))), (worker, stored)
        assert finished <= len(stored) <= finished + 1, (worker, finished, stored)
    assert inbox_files(base) == []
    assert collect(base).added == []


def test_a_worker_killed_mid_run_has_its_completed_files_recovered(base: Path) -> None:
    worker = subprocess.Popen([sys.executable, str(HERE / "collect_workers.py"), "stage",
                               str(base), "0", "100000", "300"], stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    finished = [worker.stdout.readline() for _ in range(150)]
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert all(line.startswith("done ") for line in finished)
    report = collect(base)
    assert report.recovered == 1
    stored = _worker_files(contents(base, "out.zip"), 0)
    assert stored == list(range(len(stored))) and len(stored) >= 150


def _prepare_merge(base: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A destination already holding 120 entries, and inboxes with 180 more for it (a few
    large ones in chunks, some already there, some clashing names): returns (old, new)."""
    old: dict[str, str] = {}
    with Inbox(base) as inbox:
        for n in range(120):
            data = content(99, n)
            inbox.put(f"out.zip/old/{n:03d}", data)
            old[f"old/{n:03d}"] = sha(data)
    collect(base, max_archive_bytes=1_500_000)
    new: dict[str, str] = {}
    for part in range(3):
        with Inbox(base, chunk_bytes=16 * 1024) as inbox:
            for n in range(60):
                data = content(part, n) * (8 if n % 20 == 3 else 1)  # 8-160 KB: in chunks
                inbox.put(f"out.zip/new/{part}/{n:03d}", data)
                new[f"new/{part}/{n:03d}"] = sha(data)
            inbox.put("out.zip/old/000", content(99, 0))  # already there
            inbox.put(f"out.zip/old/{part + 1:03d}", b"clash %d" % part)  # renamed
    return old, new


def _check_final(base: Path, old: dict[str, str], new: dict[str, str]) -> None:
    held = contents(base, "out.zip")
    renamed = {name: digest for name, digest in held.items() if "~" in name}
    assert sorted(renamed.values()) == sorted(sha(b"clash %d" % p) for p in range(3))
    assert {k: v for k, v in held.items() if "~" not in k} == {**old, **new}
    for path in base.glob("out*.zip"):
        unzip_ok(path)
    assert inbox_files(base) == []
    assert os.listdir(Layout.at(base).journal) == []


def test_a_collector_killed_at_many_points_of_a_large_merge(base: Path, tmp_path: Path) -> None:
    old, new = _prepare_merge(base)
    pristine = tmp_path / "pristine"
    shutil.copytree(base, pristine)
    cap = 1_500_000  # the merge rolls out.zip to a second part along the way
    total = _steps(_collect(0, base, cap))
    _check_final(base, old, new)
    for step in _aim(total, 28):
        shutil.rmtree(base)
        shutil.copytree(pristine, base)
        ended = _collect(step, base, cap)
        assert ended.status == -signal.SIGKILL, (step, total, ended.output)
        # Undoing the torn append (what any collector does first) gives back the destination
        # with every entry it held, readable by any tool.
        layout = Layout.at(base)
        undo(layout.journal, "out.zip", layout.base)
        held = contents(base, "out.zip")
        assert {k: held[k] for k in old} == old, step
        unzip_ok(base / "out.zip")
        # The next collection finishes the job: every new entry once, nothing duplicated.
        report = collect(base, max_archive_bytes=cap)
        assert report.restored == [], step  # undone above already
        assert report.errors == [], (step, report.errors)
        _check_final(base, old, new)


def test_any_collection_restores_a_torn_destination_even_with_nothing_staged(
    base: Path,
) -> None:
    old, _ = _prepare_merge(base)
    journal = Path(Layout.at(base).journal) / "out.zip.journal"
    step = 40
    while not journal.exists():  # kill it, later and later, until it dies mid-append
        ended = _collect(step, base, 1_500_000)
        assert ended.status == -signal.SIGKILL, ended.output
        step += 20
    for name in inbox_files(base):  # nothing left to collect
        os.unlink(Path(Layout.at(base).inbox) / name)
    report = collect(base, max_archive_bytes=1_500_000)
    assert str(base / "out.zip") in report.restored
    assert [p.name for p in base.glob("out*.zip")] == ["out.zip"]  # a part it made is gone
    assert not journal.exists()
    held = contents(base, "out.zip")
    assert {k: held[k] for k in old} == old
    unzip_ok(base / "out.zip")


def test_a_collector_killed_again_and_again_still_finishes_without_duplicates(
    base: Path,
) -> None:
    old, new = _prepare_merge(base)
    step, kills = 7, 0
    while True:
        ended = _collect(step, base, 1_500_000)
        if ended.status == 0:
            break
        assert ended.status == -signal.SIGKILL, ended.output
        kills += 1
        step += 37  # each run gets further before it is killed, undoing the last one's work
    assert kills >= 3
    with zipfile.ZipFile(base / "out.zip") as zf:
        assert zf.testzip() is None
    _check_final(base, old, new)
