"""SIGKILL crash harness: a real writer process (rolling, zstd, shipping to S3) killed at random.

Each *trial* starts a child writer (``python crash_harness.py child CONFIG RUN ...``) built from a
TOML pipeline config that ``shoebox recover -c CONFIG`` shares, kills it with SIGKILL at a random
point, runs ``shoebox recover`` to completion and checks every invariant of a crash:

* every record the child acknowledged as durable (``ack <i>`` printed only after ``flush()``
  returned) is present exactly once, each run's records in order (a prefix ``0..n-1``), with the
  payload written, and no reader raised damage (strict readers);
* no ``.inprogress``, ``.partial``, ``.reserving``, ``*.tmp.state`` or ``.damaged`` file is left,
  no journal is pending, no local archive is left unshipped (``remove_local = true``);
* nothing was uploaded under two names (each archive's header ``sync`` marker, and each content,
  appears in at most one object);
* nothing was overwritten: every object seen before the trial is still there with the same ETag,
  and every sealed local file seen before it is still there unchanged or its content (after
  decompression) is now in the bucket.

Modes (where the kill lands): ``write`` (a random ack count or a random time), ``compress`` (a
few ms after the child's marker step before zstd printed ``closing <file>``), ``upload`` (a few ms
after the marker before the s3 step printed ``uploading <file>``) and ``recover`` (the writer is
killed, then ``shoebox recover`` itself is killed after a random delay or marker, then run again
to completion).

The full run: ``python tests/write/crash_harness.py --trials 60 --mode all`` (starts its own moto
server); ``tests/test_crash.py`` runs a fast subset (``SHOEBOX_CRASH_TRIALS`` for more).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("write", "compress", "upload", "recover")
LEFTOVER_SUFFIXES = (".inprogress", ".partial", ".reserving", ".tmp.state", ".damaged")
TEMPLATE = "c_%Y%m%dT%H%M%S_{seq}.events"
ROLL_RECORDS = 200
BLOCK_RECORDS = 16
FLUSH_EVERY = 10
CHILD_TOTAL = 1_000_000  # never reached: the child is killed long before
PAD = "x" * 120


# --- the marker step (runs inside the child writer and inside `shoebox recover`) --------------


class Marker:
    """An on-close step that prints ``<label> <file>`` (unbuffered) and passes the file on."""

    def __init__(self, *, label: str = "marker") -> None:
        self.label = label
        self.name = f"marker-{label}"

    def on_open(self, filename: str) -> None:
        return None

    def on_close(self, filename: str) -> str:
        os.write(1, f"{self.label} {filename}\n".encode())
        return filename


# --- the child writer ------------------------------------------------------------------------


def child_main(config: str, run: str, total: int, every: int) -> int:
    from shoebox_core.config import load_pipeline

    writer = load_pipeline(config).open_writer()
    for i in range(total):
        writer.write({"run": run, "i": str(i)}, f"p-{run}-{i}-{PAD}")
        if (i + 1) % every == 0:
            writer.flush()
            os.write(1, f"ack {i}\n".encode())
    writer.close()
    os.write(1, b"done\n")
    return 0


# --- configuration ---------------------------------------------------------------------------


def write_config(path: Path, spool: Path, bucket: str, endpoint_url: str) -> Path:
    """The pipeline shared by the child writer and `shoebox recover`."""
    path.write_text(
        f"""\
directory = {json.dumps(str(spool))}
template = "{TEMPLATE}"

[writer]
block_records = {BLOCK_RECORDS}
flush_interval = 0

[[roll]]
plugin = "count"
roll_records = {ROLL_RECORDS}

[[on_close]]
plugin = "crash_harness:Marker"
label = "closing"

[[on_close]]
plugin = "zstd"

[[on_close]]
plugin = "crash_harness:Marker"
label = "uploading"

[[on_close]]
plugin = "s3"
url = "s3://{bucket}/events"
endpoint_url = "{endpoint_url}"
key = "testing"
secret = "testing"
remove_local = true
"""
    )
    return path


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return env


# --- running and killing ---------------------------------------------------------------------


class Proc:
    """A child process whose stdout lines arrive on a queue (read by a thread)."""

    def __init__(self, argv: list[str]) -> None:
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=child_env())
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr = b""
        self._out = threading.Thread(target=self._pump, daemon=True)
        self._err = threading.Thread(target=self._pump_err, daemon=True)
        self._out.start()
        self._err.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.popen.stderr is not None
        self.stderr = self.popen.stderr.read()

    def next_line(self, deadline: float) -> str | None:
        """The next line, or None at end of output or past ``deadline``."""
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is not None:
            self.seen.append(line)
        return line

    def kill(self) -> bool:
        """SIGKILL the process (by its pid); True if it was still running."""
        alive = self.popen.poll() is None
        if alive:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.finish()
        return alive

    def finish(self, timeout: float = 120) -> int:
        code = self.popen.wait(timeout=timeout)
        self._out.join(10)
        self._err.join(10)
        while True:  # drain what the pump thread queued
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return code


def _wait_for(proc: Proc, prefix: str, count: int, deadline: float) -> bool:
    """Read lines until the ``count``-th starting with ``prefix``; False on end or timeout."""
    found = 0
    while True:
        line = proc.next_line(deadline)
        if line is None:
            return False
        if line.startswith(prefix):
            found += 1
            if found >= count:
                return True


def acks_of(lines: list[str]) -> int:
    """The highest acknowledged record index, -1 if none."""
    best = -1
    for line in lines:
        if line.startswith("ack "):
            best = max(best, int(line.split()[1]))
    return best


def shoebox_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "shoebox_core", "recover", "-c", str(config)]


# --- the bucket, mirrored locally ------------------------------------------------------------


def _decompress(data: bytes) -> bytes:
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return data


def _sync_of(content: bytes, name: str) -> bytes:
    from shoebox_core.format import v2 as _v2

    fields, _ = _v2.read_file_header(io.BytesIO(content), name)
    return bytes(fields["sync"])


@dataclass
class Bucket:
    """The bucket's objects, downloaded once each into ``mirror`` (objects never change)."""

    bucket: str
    storage_options: dict[str, Any]
    mirror: Path
    etags: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # key -> sha256 of decompressed
    syncs: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import s3fs

        self.fs = s3fs.S3FileSystem(**self.storage_options)
        self.mirror.mkdir(parents=True, exist_ok=True)
        if not self.fs.exists(self.bucket):
            self.fs.mkdir(self.bucket)

    def refresh(self, problems: list[str]) -> None:
        self.fs.invalidate_cache()
        infos = self.fs.find(f"{self.bucket}/events", detail=True)
        now = {}
        for key, info in infos.items():
            etag = str(info.get("ETag") or info.get("etag"))
            now[key] = etag
        for key, etag in self.etags.items():
            if key not in now:
                problems.append(f"object {key} disappeared")
            elif now[key] != etag:
                problems.append(f"object {key} was overwritten (ETag {etag} -> {now[key]})")
        for key, etag in now.items():
            if key in self.etags:
                continue
            data = self.fs.cat_file(key)
            name = key.rsplit("/", 1)[1]
            target = self.mirror / name
            if target.exists():
                problems.append(f"two objects share the base name {name}")
            target.write_bytes(data)
            plain = _decompress(data)
            self.etags[key] = etag
            self.digests[key] = hashlib.sha256(plain).hexdigest()
            try:
                self.syncs[key] = _sync_of(plain, key)
            except Exception as exc:  # noqa: BLE001 (reported as a failure)
                problems.append(f"object {key}: unreadable header: {exc}")


# --- one mode: many trials in one spool directory and one bucket ----------------------------


@dataclass
class Stats:
    trials: int = 0
    kills: int = 0
    writer_kills: int = 0
    recover_kills: int = 0
    records_checked: int = 0
    acked_checked: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "kills": self.kills, "writer_kills": self.writer_kills,
                "recover_kills": self.recover_kills, "records_checked": self.records_checked,
                "acked_checked": self.acked_checked, "failures": len(self.failures)}


class ModeRunner:
    """Runs the trials of one mode against ``endpoint_url`` under ``base``."""

    def __init__(self, mode: str, base: Path, endpoint_url: str, seed: int,
                 *, verbose: bool = False, keep_going: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self.mode = mode
        self.root = base / mode
        self.spool = self.root / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.bucket_name = f"crash-{mode}"
        self.storage_options = {"endpoint_url": endpoint_url, "key": "testing",
                                "secret": "testing"}
        self.config = write_config(self.root / "pipeline.toml", self.spool, self.bucket_name,
                                   endpoint_url)
        self.bucket = Bucket(self.bucket_name, self.storage_options, self.root / "mirror")
        self.rng = random.Random(f"{mode}-{seed}")
        self.seed = seed
        self.acked: dict[str, int] = {}  # run -> highest acknowledged index
        self.stats = Stats()
        self.verbose = verbose
        self.keep_going = keep_going
        self.local_digests: dict[str, str] = {}

    # -- one trial --

    def trial(self, number: int) -> list[str]:
        run = f"{self.seed}.{number:04d}"
        problems: list[str] = []
        self._snapshot_local()
        child = Proc([sys.executable, str(HERE / "crash_harness.py"), "child", str(self.config),
                      run, str(CHILD_TOTAL), str(FLUSH_EVERY)])
        t0 = time.monotonic()
        deadline = t0 + 30
        how = self._kill_point(child, deadline)
        if child.kill():
            self.stats.kills += 1
            self.stats.writer_kills += 1
        else:
            problems.append(f"writer exited by itself ({child.popen.returncode}): "
                            f"{child.stderr.decode(errors='replace')[-2000:]}")
        self.acked[run] = acks_of(child.seen)
        if self.mode == "recover":
            self._killed_recovery(problems)
        t1 = time.monotonic()
        code, out, err = self._recover()
        t2 = time.monotonic()
        if code != 0:
            problems.append(f"shoebox recover exited {code}: {out[-1500:]} {err[-1500:]}")
        self.stats.records_checked += self.verify(problems)
        self.stats.trials += 1
        t3 = time.monotonic()
        how += f" [{t1 - t0:.1f}+{t2 - t1:.1f}+{t3 - t2:.1f} s]"
        if self.verbose:
            print(f"[{self.mode} #{number}] {how}; acked {self.acked[run] + 1}; "
                  f"{'OK' if not problems else 'FAIL: ' + '; '.join(problems)}", flush=True)
        problems = [f"{self.mode} trial {number} ({how}): {p}" for p in problems]
        self.stats.failures.extend(problems)
        return problems

    def _kill_point(self, child: Proc, deadline: float) -> str:
        rng = self.rng
        if self.mode in ("write", "recover"):
            if rng.random() < 0.5:
                target = rng.randrange(0, 40) * FLUSH_EVERY + FLUSH_EVERY - 1
                _wait_for(child, f"ack {target}", 1, deadline)
                return f"kill at ack {target}"
            if not _wait_for(child, "ack ", 1, deadline):
                return "no ack before the deadline"
            delay = rng.uniform(0.0, 0.5)
            time.sleep(delay)
            return f"kill {delay * 1000:.0f} ms after the first ack"
        label = "closing" if self.mode == "compress" else "uploading"
        nth = rng.randint(1, 2)
        delay = rng.uniform(0.0, 0.004 if self.mode == "compress" else 0.04)
        if not _wait_for(child, f"{label} ", nth, deadline):
            return f"no {label} marker #{nth} before the deadline"
        time.sleep(delay)
        return f"kill {delay * 1000:.1f} ms after {label} marker #{nth}"

    def _killed_recovery(self, problems: list[str]) -> None:
        proc = Proc(shoebox_cmd(self.config))
        rng = self.rng
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.05, 0.8))  # the command starts in ~0.2 s
        else:
            _wait_for(proc, "closing " if rng.random() < 0.5 else "uploading ",
                      rng.randint(1, 2), time.monotonic() + 15)
            time.sleep(rng.uniform(0.0, 0.02))
        if proc.kill():
            self.stats.kills += 1
            self.stats.recover_kills += 1
        elif proc.popen.returncode != 0:
            problems.append(f"the first shoebox recover exited {proc.popen.returncode}: "
                            f"{proc.stderr.decode(errors='replace')[-1500:]}")

    def _recover(self) -> tuple[int, str, str]:
        proc = subprocess.run(shoebox_cmd(self.config), capture_output=True, text=True,
                              env=child_env(), timeout=300)
        return proc.returncode, proc.stdout, proc.stderr

    # -- checks --

    def _local_archives(self) -> list[Path]:
        return sorted(p for p in self.spool.iterdir()
                      if p.name.endswith((".events", ".events.zst")))

    def _snapshot_local(self) -> None:
        self.local_digests = {
            p.name: hashlib.sha256(_decompress(p.read_bytes())).hexdigest()
            for p in self._local_archives()
        }

    def verify(self, problems: list[str]) -> int:
        from shoebox_core.errors import ArchiveError
        from shoebox_core.read.manager import ReadingRollManager
        from shoebox_core.ship.status import directory_status

        names = sorted(os.listdir(self.spool))
        left = [n for n in names if n.endswith(LEFTOVER_SUFFIXES) or
                (n.startswith(".") and ".reserving" in n)]
        if left:
            problems.append(f"left behind: {left}")
        status = directory_status(str(self.spool))
        if status.files or status.unreadable:
            pending = [(f.archive, f.state, f.error) for f in status.files]
            problems.append(f"journals pending: {pending}; unreadable {list(status.unreadable)}")
        local = self._local_archives()
        if local:
            problems.append(f"local archives not shipped: {[p.name for p in local]}")

        self.bucket.refresh(problems)
        # Nothing overwritten: every sealed local file seen before is unchanged, or its content
        # is now in the bucket (compressed and uploaded, the local copy removed).
        shipped = set(self.bucket.digests.values())
        for name, digest in self.local_digests.items():
            path = self.spool / name
            candidates = [path, self.spool / (name + ".zst")]
            if digest in shipped:
                continue
            if any(p.exists() and hashlib.sha256(_decompress(p.read_bytes())).hexdigest()
                   == digest for p in candidates):
                continue
            problems.append(f"sealed file {name} changed or lost (content not found anywhere)")
        # Nothing uploaded under two names.
        by_sync: dict[bytes, list[str]] = {}
        for key, sync in self.bucket.syncs.items():
            by_sync.setdefault(sync, []).append(key)
        for p in local:
            try:
                by_sync.setdefault(_sync_of(_decompress(p.read_bytes()), str(p)), []).append(
                    str(p))
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{p}: unreadable header: {exc}")
        dups = [keys for keys in by_sync.values() if len(keys) > 1]
        if dups:
            problems.append(f"one archive stored under several names: {dups}")
        by_digest: dict[str, list[str]] = {}
        for key, digest in self.bucket.digests.items():
            by_digest.setdefault(digest, []).append(key)
        dups = [keys for keys in by_digest.values() if len(keys) > 1]
        if dups:
            problems.append(f"equal content under several names: {dups}")

        # Every acknowledged record exactly once, in order, undamaged (strict readers).
        got: dict[str, list[int]] = {}
        count = 0
        sources = [(str(self.bucket.mirror), "*.events")]
        if local:
            sources.append((str(self.spool), "*.events"))
        for directory, pattern in sources:
            try:
                with ReadingRollManager(pattern, directory) as reader:
                    for metadata, payload in reader:
                        count += 1
                        run, i = metadata["run"], int(metadata["i"])
                        if payload != f"p-{run}-{i}-{PAD}":
                            problems.append(f"record {run}/{i}: wrong payload {payload[:40]!r}")
                        got.setdefault(run, []).append(i)
            except ArchiveError as exc:
                problems.append(f"damage reported reading {directory}: {exc}")
        for run, acked in self.acked.items():
            seq = got.get(run, [])
            if seq != list(range(len(seq))):
                dup = len(seq) - len(set(seq))
                problems.append(f"run {run}: records not 0..n-1 in order ({len(seq)} read, "
                                f"{dup} duplicates, first bad at "
                                f"{next(k for k, v in enumerate(seq) if v != k)})")
            if len(seq) < acked + 1:
                problems.append(f"run {run}: {acked + 1} acknowledged, only {len(seq)} read")
            self.stats.acked_checked += acked + 1
        extra = set(got) - set(self.acked)
        if extra:
            problems.append(f"records of unknown runs {sorted(extra)}")
        return count

    def check_bucket_directly(self) -> list[str]:
        """Read the bucket through ``s3://`` (not the mirror) and compare with the mirror."""
        from shoebox_core.read.manager import ReadingRollManager

        direct = [(m["run"], m["i"]) for m, _ in ReadingRollManager(
            f"s3://{self.bucket_name}/events/*.events", storage_options=self.storage_options)]
        mirrored = [(m["run"], m["i"]) for m, _ in ReadingRollManager(
            "*.events", str(self.bucket.mirror))]
        if direct != mirrored:
            return [f"{self.mode}: reading s3:// gave {len(direct)} records, the mirror "
                    f"{len(mirrored)}"]
        return []


def run_modes(modes: list[str], trials: int, base: Path, endpoint_url: str, seed: int = 0,
              *, verbose: bool = False) -> dict[str, Stats]:
    results = {}
    for mode in modes:
        runner = ModeRunner(mode, base, endpoint_url, seed, verbose=verbose)
        for number in range(trials):
            runner.trial(number)
        runner.stats.failures.extend(runner.check_bucket_directly())
        results[mode] = runner.stats
    return results


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        config, run, total, every = argv[1:5]
        return child_main(config, run, int(total), int(every))
    parser = argparse.ArgumentParser(description="SIGKILL crash harness for shoebox")
    parser.add_argument("--trials", type=int, default=60, help="trials per mode (default 60)")
    parser.add_argument("--mode", default="all", help=f"all, or one of {', '.join(MODES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    modes = list(MODES) if args.mode == "all" else args.mode.split(",")

    sys.path.insert(0, str(HERE))
    from shoebox_core.testing.servers.moto import MotoServer

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    base = Path(tempfile.mkdtemp(prefix="shoebox-crash-"))
    server = MotoServer(base)
    server.start()
    started = time.monotonic()
    try:
        results = run_modes(modes, args.trials, base, server.endpoint_url, args.seed,
                            verbose=args.verbose)
    finally:
        server.stop(signal.SIGTERM)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    elapsed = time.monotonic() - started
    total_failures = 0
    print(f"{'mode':<10}{'trials':>8}{'kills':>8}{'writer':>8}{'recover':>9}"
          f"{'records':>10}{'acked':>10}{'failures':>10}")
    for mode, stats in results.items():
        d = stats.as_dict()
        total_failures += d["failures"]
        print(f"{mode:<10}{d['trials']:>8}{d['kills']:>8}{d['writer_kills']:>8}"
              f"{d['recover_kills']:>9}{d['records_checked']:>10}{d['acked_checked']:>10}"
              f"{d['failures']:>10}")
    print(f"total kills {sum(s.kills for s in results.values())}, "
          f"{elapsed:.0f} s, failures {total_failures}")
    for stats in results.values():
        for failure in stats.failures:
            print("FAIL", failure)
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
