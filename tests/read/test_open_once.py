"""A file is opened once per read: the reader, ``shoebox cat``, ``ls`` and ``verify`` open each
archive once, locally (counted at ``open``) and in a bucket (GET requests counted by a real moto
S3 server).

Before: reading N archives opened each twice (once to find the write order, once to read) and
``shoebox ls`` three times (order, compression sniff, header): 2N or 3N ranged GETs for small
remote archives. Now N, plus the one listing request.
"""

from __future__ import annotations

import builtins
import gzip
import re
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import zstandard

from shoebox_core.cli.main import main
from shoebox_core.read.manager import ReadingRollManager, read_archive
from shoebox_core.read.sources import find_sources, in_write_order, release
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager

s3fs = pytest.importorskip("s3fs", reason="the S3 figures need s3fs (pip install -e '.[test]')")

N = 5
COMMANDS = ["read", "cat", "ls", "verify"]


def write_archives(directory: Path, *, per_file: int, payload: int) -> list[tuple[Any, Any]]:
    records = [({"i": str(i)}, f"{i:06d}" + "p" * payload) for i in range(per_file * N)]
    with WritingRollManager("a_{seq}.events", CountRollChecker(roll_records=per_file),
                            str(directory), background=False) as writer:
        writer.write_many(records)
    assert len(writer.sealed) == N
    return records


def run(command: str, pattern: str, options: dict[str, Any] | None = None,
        records: list[tuple[Any, Any]] | None = None) -> None:
    """Read every archive matching ``pattern`` the way ``command`` does."""
    if command == "read":
        with ReadingRollManager(pattern, storage_options=options) as reader:
            assert list(reader) == records
        return
    extra = [f"--storage-option={key}={value}" for key, value in (options or {}).items()]
    assert main([command, pattern, *extra]) == 0


@pytest.fixture
def count_opens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Counter[str]:
    """Every ``open()`` for reading of a file under ``tmp_path``, by file name."""
    opens: Counter[str] = Counter()
    real_open = builtins.open

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str) and file.startswith(str(tmp_path)) and "r" in mode:
            opens[Path(file).name] += 1
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    return opens


@pytest.mark.parametrize("command", COMMANDS)
def test_each_local_archive_is_opened_once(tmp_path: Path, count_opens: Counter[str],
                                           command: str, capsys: pytest.CaptureFixture) -> None:
    records = write_archives(tmp_path, per_file=3, payload=100)
    count_opens.clear()
    run(command, str(tmp_path / "a_*.events"), records=records)
    assert count_opens == {f"a_{i:06d}.events": 1 for i in range(N)}


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_a_compressed_archive_is_opened_once(tmp_path: Path, count_opens: Counter[str],
                                             suffix: str, capsys: pytest.CaptureFixture) -> None:
    write_archives(tmp_path, per_file=3, payload=100)
    compress = gzip.compress if suffix == ".gz" else zstandard.ZstdCompressor().compress
    for path in tmp_path.glob("a_*.events"):
        path.with_name(path.name + suffix).write_bytes(compress(path.read_bytes()))
        path.unlink()
    count_opens.clear()
    assert main(["ls", str(tmp_path / "a_*.events")]) == 0
    assert "+" + {".gz": "gzip", ".zst": "zstd"}[suffix] in capsys.readouterr().out
    assert count_opens == {f"a_{i:06d}.events{suffix}": 1 for i in range(N)}


def test_beyond_keep_open_the_last_archives_are_opened_again(
    tmp_path: Path, count_opens: Counter[str]
) -> None:
    """Open handles are bounded: the first ``keep_open`` in write order stay open, the later
    ones (whatever order they were found in) are opened again when read."""
    records = write_archives(tmp_path, per_file=3, payload=10)
    found = find_sources("a_*.events", str(tmp_path))
    count_opens.clear()
    ordered = in_write_order(reversed(found), keep_open=2)
    assert [s.name for s in ordered] == [f"a_{i:06d}.events" for i in range(N)]
    read = [record for source in ordered for record in read_archive(source)]
    assert read == records
    assert count_opens == {f"a_{i:06d}.events": 1 if i < 2 else 2 for i in range(N)}


def test_release_closes_what_was_kept_and_not_read(tmp_path: Path) -> None:
    write_archives(tmp_path, per_file=3, payload=10)
    ordered = in_write_order(find_sources("a_*.events", str(tmp_path)))
    kept = [source._kept[0].raw for source in ordered]
    assert not any(raw.closed for raw in kept)
    release(ordered)
    assert all(raw.closed for raw in kept)


def test_a_reader_closed_early_closes_the_archives_it_kept(tmp_path: Path) -> None:
    write_archives(tmp_path, per_file=3, payload=10)
    reader = ReadingRollManager("a_*.events", str(tmp_path))
    reader.read()
    kept = [source._kept[0].raw for source in reader.files[1:]]
    reader.close()
    assert kept and all(raw.closed for raw in kept)


# -- in a bucket: GET requests, counted by the server ---------------------------------------------
_REQUEST = re.compile(r'"(GET|HEAD) (/[^ ?]*)(\?\S*)? HTTP')
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class ServerLog:
    """The requests a moto server logged between two marks."""

    def __init__(self, moto: Any) -> None:
        self.moto = moto
        self.path = moto.log_dir / f"moto-{moto.port}.log"

    def mark(self) -> str:
        """Log a unique request and wait until it is in the log (it follows every earlier one)."""
        tag = uuid.uuid4().hex
        with urllib.request.urlopen(f"{self.moto.endpoint_url}/moto-api/?mark={tag}", timeout=10):
            pass
        deadline = time.monotonic() + 10
        while tag not in self.path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "moto did not log the mark"
            time.sleep(0.02)
        time.sleep(0.2)  # a request answered just before the mark may log just after it
        return tag

    def between(self, start: str, end: str) -> list[tuple[str, str, bool]]:
        """``(method, path, is_listing)`` of each S3 request logged between the marks."""
        text = _COLOUR.sub("", self.path.read_text(errors="replace"))
        part = text[text.index(start) : text.index(end)].splitlines()[1:]
        found = []
        for line in part:
            match = _REQUEST.search(line)
            if match and not match.group(2).startswith("/moto-api"):
                listing = "list-type" in (match.group(3) or "")
                found.append((match.group(1), match.group(2), listing))
        return found


def measure(moto: Any, action: Any) -> tuple[Counter[str], int, int]:
    """``(GETs per object, listing requests, HEAD requests)`` the server saw during ``action()``."""
    log = ServerLog(moto)
    start = log.mark()
    action()
    requests = log.between(start, log.mark())
    objects = Counter(path for method, path, listing in requests
                      if method == "GET" and not listing)
    listings = sum(1 for _method, _path, listing in requests if listing)
    heads = sum(1 for method, _path, _listing in requests if method == "HEAD")
    return objects, listings, heads


def upload(moto: Any, tmp_path: Path, *, per_file: int, payload: int) -> tuple[str, Any, Any]:
    records = write_archives(tmp_path, per_file=per_file, payload=payload)
    options = moto.storage_options()
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    bucket = f"opens-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    for path in sorted(tmp_path.glob("a_*.events")):
        fs.put(str(path), f"{bucket}/x/{path.name}")
    return f"s3://{bucket}/x/a_*.events", options, records


@pytest.mark.parametrize("command", COMMANDS)
def test_small_remote_archives_cost_one_get_each(
    moto: Any, tmp_path: Path, command: str, capsys: pytest.CaptureFixture
) -> None:
    """Archives smaller than the first ranged read (64 KiB): one GET each, one listing, no
    HEAD (the listing gave the sizes). The reader lists once more before it ends, to read what
    was sealed meanwhile: a listing, no GET."""
    pattern, options, records = upload(moto, tmp_path, per_file=3, payload=100)
    objects, listings, heads = measure(moto, lambda: run(command, pattern, options, records))
    assert sorted(objects.values()) == [1] * N
    assert (listings, heads) == (2 if command == "read" else 1, 0)


def test_large_remote_archives_cost_what_reading_each_alone_costs(
    moto: Any, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Finding the write order of ~1 MB archives adds no request to reading them, and
    ``shoebox ls`` reads two ranges of each: its header and its end marker."""
    pattern, options, records = upload(moto, tmp_path, per_file=10, payload=100_000)
    sources = find_sources(pattern, storage_options=options)

    def each_alone() -> None:
        for source in sources:
            for _ in read_archive(source):
                pass

    alone, _listings, _heads = measure(moto, each_alone)
    assert min(alone.values()) > 1  # archives bigger than one ranged read
    together, listings, heads = measure(moto, lambda: run("read", pattern, options, records))
    assert (together, listings, heads) == (alone, 2, 0)  # the last listing before the end
    listed, listings, heads = measure(moto, lambda: run("ls", pattern, options))
    assert sorted(listed.values()) == [2] * N
    assert (listings, heads) == (1, 0)
