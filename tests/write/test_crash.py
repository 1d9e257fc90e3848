"""SIGKILL crash tests: the harness (tests/write/crash_harness.py) on a fast subset, and regression
tests for the bugs it found.

The default run does ``DEFAULT_TRIALS`` trials per mode with fixed seeds (deterministic in what it
attempts; where a kill lands depends on timing). ``SHOEBOX_CRASH_TRIALS=60`` runs 60 per mode
(240 kills and more); ``python tests/write/crash_harness.py --trials 60 --mode all`` does the same
outside pytest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.chain import ShippingChain
from shoebox_core.ship.compress import ZstdCallback
from shoebox_core.ship.journal import find_journals
from shoebox_core.ship.transfer import Transfer
from shoebox_core.write.checkers import NeverRollChecker
from shoebox_core.write.manager import WritingRollManager
from shoebox_core.write.recovery import recover_directory
from tests.write.crash_harness import MODES, ModeRunner

DEFAULT_TRIALS = 8
TRIALS = int(os.environ.get("SHOEBOX_CRASH_TRIALS") or DEFAULT_TRIALS)


@pytest.mark.parametrize("mode", MODES)
def test_sigkill_harness(mode: str, moto, tmp_path: Path) -> None:
    runner = ModeRunner(mode, tmp_path, moto.endpoint_url, seed=0)
    for number in range(TRIALS):
        runner.trial(number)
    runner.stats.failures.extend(runner.check_bucket_directly())
    assert runner.stats.failures == []
    assert runner.stats.writer_kills == TRIALS
    if mode == "recover":
        assert runner.stats.recover_kills >= 1
    assert runner.stats.acked_checked > 0


# --- regression tests for what the harness found ---------------------------------------------

KILLED_COMPRESSING = textwrap.dedent(
    """
    import os, signal, sys
    from shoebox_core.ship import compress as compression
    from shoebox_core.ship.compress import ZstdCallback
    from shoebox_core.ship.chain import ShippingChain
    from shoebox_core.ship.transfer import Transfer

    archive, remote, where = sys.argv[1:4]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Zstd(ZstdCallback):
        def on_close(self, filename):
            result = super().on_close(filename)
            if where == "after":   # compressed, original removed, journal not moved on
                die()
            return result

        def _verify(self, *args):
            super()._verify(*args)
            if where == "verify":  # the .partial file is complete, not yet renamed
                die()

    if where == "rename":          # the .zst has its name, the original is still there
        real = compression.rename_no_clobber

        def rename(src, dst):
            real(src, dst)
            die()

        compression.rename_no_clobber = rename
    ShippingChain([Zstd(), Transfer(url=remote, remove_local=True)]).on_close(archive)
    """
)


def _sealed_archive(spool: Path, records: int = 50) -> Path:
    with WritingRollManager("a.events", NeverRollChecker(), str(spool), background=False,
                            recover=False) as writer:
        for i in range(records):
            writer.write({"i": str(i)}, f"p{i}")
    return spool / "a.events"


@pytest.mark.parametrize("where", ["after", "verify", "rename"])
def test_a_compression_killed_at_any_point_resumes_without_loss_or_leftovers(
    tmp_path: Path, where: str
) -> None:
    spool, remote = tmp_path / "spool", tmp_path / "remote"
    spool.mkdir()
    archive = _sealed_archive(spool)
    proc = subprocess.run([sys.executable, "-c", KILLED_COMPRESSING, str(archive), str(remote),
                           where], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    # What `shoebox recover` / a restarted writer does: run the chain again on the sealed name.
    chain = ShippingChain([ZstdCallback(), Transfer(url=str(remote), remove_local=True)])
    final = chain.on_close(str(archive))
    assert final.endswith("a.events.zst")
    assert sorted(os.listdir(spool)) == [], "no original, .zst, .partial or journal left"
    assert sorted(os.listdir(remote)) == ["a.events.zst"], "one object, one name"
    got = [m["i"] for m, _ in ReadingRollManager(str(remote / "*.events"))]
    assert got == [str(i) for i in range(50)]


def test_a_dead_processs_temporary_journal_is_removed_at_once(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"x.events.{dead_pid}-7f00aa.tmp.state"
    live = tmp_path / f"y.events.{os.getpid()}-7f00bb.tmp.state"
    stale.write_text("{")
    live.write_text("{")
    assert find_journals(str(tmp_path)) == []
    assert not stale.exists(), "a killed writer's temporary journal is garbage"
    assert live.exists(), "a live process's temporary journal is being written"


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from shoebox_core.write.checkers import NeverRollChecker
    from shoebox_core.write.manager import WritingRollManager

    w = WritingRollManager("r.events", NeverRollChecker(), sys.argv[1], block_records=10,
                           flush_interval=None)
    for i in range(95):
        w.write({"i": str(i)}, "p%d" % i)
    w.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_recovery_killed_while_copying_leaves_no_partial_file(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (tmp_path / "r.events.inprogress").exists()
    # What a recovery killed while copying the good blocks leaves: an incomplete copy.
    (tmp_path / "r.events.partial").write_bytes(b"half a copy")
    (tmp_path / "r.events.1.partial").write_bytes(b"another half")
    results = recover_directory(str(tmp_path))
    assert [r.records for r in results] == [95]
    assert sorted(os.listdir(tmp_path)) == ["r.events"]
    assert [m["i"] for m, _ in ReadingRollManager("r.events", str(tmp_path))] == [
        str(i) for i in range(95)]


KILLED_RECOVERY = textwrap.dedent(
    """
    import os, signal, sys
    from shoebox_core.write import recovery

    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if str(path).endswith(".inprogress"):  # the sealed copy has its name: die now
            os.kill(os.getpid(), signal.SIGKILL)
        return real_unlink(path, *args, **kwargs)

    recovery.os.unlink = unlink
    recovery.recover_directory(sys.argv[1])
    """
)


def test_a_recovery_killed_after_sealing_does_not_seal_a_second_copy(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    proc = subprocess.run([sys.executable, "-c", KILLED_RECOVERY, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["r.events", "r.events.inprogress"]
    results = recover_directory(str(tmp_path))
    assert [r.sealed for r in results] == [str(tmp_path / "r.events")]
    assert sorted(os.listdir(tmp_path)) == ["r.events"], "no r~001.events: one archive, one name"
    assert [m["i"] for m, _ in ReadingRollManager("r*.events", str(tmp_path))] == [
        str(i) for i in range(95)]
