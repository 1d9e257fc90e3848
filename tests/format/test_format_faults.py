"""Issue 10's format faults, run for real: the shoebox command on damaged archives (a doubled
archive, well-checksummed records of the wrong types, a 0-byte archive) and a decompression
bomb read in a separate process whose peak memory is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgpack
import pytest

from shoebox_core.format import v2 as _v2
from shoebox_core.write import CountRollChecker, WritingRollManager

SHOEBOX = [sys.executable, "-m", "shoebox_core.cli.main"]


def shoebox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SHOEBOX, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def sealed_archive(directory: Path, records: int = 5) -> Path:
    with WritingRollManager("ev_{seq}.events", CountRollChecker(roll_records=100),
                            str(directory)) as writer:
        for i in range(records):
            writer.write({"event_type": "e", "i": str(i)}, f'{{"n": {i}}}')
    (path,) = directory.glob("ev_*.events")
    return path


def test_a_doubled_archive_is_damage_after_its_end_never_records_twice(tmp_path):
    """Issue 10 item 8: ``cat a >> a`` read leniently returns every record once."""
    path = sealed_archive(tmp_path)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes() * 2)
    strict = shoebox("cat", "--count", str(path), cwd=tmp_path)
    assert strict.returncode == 1 and f"at byte {size}" in strict.stderr
    assert "data after the end marker" in strict.stderr
    lenient = shoebox("cat", "--lenient", "--metadata-only", str(path), cwd=tmp_path)
    assert lenient.returncode == 1
    assert [json.loads(line)["i"] for line in lenient.stdout.splitlines()] == list("01234")
    verify = shoebox("verify", str(path), cwd=tmp_path)
    assert verify.returncode == 1 and str(size) in verify.stdout + verify.stderr


def _with_wrong_record(path: Path, record: list) -> tuple[Path, int]:
    """An archive whose second block holds ``record``, well checksummed; and that block's
    offset."""
    sync = os.urandom(16)
    head = _v2.pack_file_header({"sync": sync, "created_ns": 1, "seq": 0})
    good = msgpack.packb([[{"event_type": "e"}, "ok"]], use_bin_type=True)
    bad = msgpack.packb([record], use_bin_type=True)
    first = _v2.encode_block_header(sync, _v2.KIND_RECORDS, 1, good, len(good), 0) + good
    second = _v2.encode_block_header(sync, _v2.KIND_RECORDS, 1, bad, len(bad), 0) + bad
    end = _v2.encode_end_block(sync, 2, {"sealed_ns": 2, "blocks": 2})
    path.write_bytes(head + first + second + end)
    return path, len(head) + len(first)


@pytest.mark.parametrize("record, named", [
    ([{"event_type": 1}, "x"], "metadata value for key 'event_type' is int"),
    ([{"event_type": b"e"}, "x"], "metadata value for key 'event_type' is bin"),
    ([["event_type", "e"], "x"], "metadata is array"),
    ([{"event_type": "e"}, None], "payload is nil"),
])
def test_records_of_the_wrong_types_are_damage_for_verify_and_cat(tmp_path, record, named):
    """Issue 10 item 9: named with file and offset, skipped leniently, and ``cat --where``
    does not crash on them."""
    path, offset = _with_wrong_record(tmp_path / "typed.events", record)
    verify = shoebox("verify", str(path), cwd=tmp_path)
    assert verify.returncode == 1, verify.stdout
    assert str(offset) in verify.stdout + verify.stderr
    where = shoebox("cat", "--where", "event_type=e", str(path), cwd=tmp_path)
    assert where.returncode == 1 and "Traceback" not in where.stderr
    assert f"{path} at byte {offset}" in where.stderr and named in where.stderr
    lenient = shoebox("cat", "--lenient", "--where", "event_type=e", str(path), cwd=tmp_path)
    assert lenient.returncode == 1 and "Traceback" not in lenient.stderr
    assert [json.loads(line)["payload"] for line in lenient.stdout.splitlines()] == ["ok"]


def test_a_zero_byte_archive_is_reported_like_an_empty_gz(tmp_path):
    """Issue 10 item 10: both are truncated at byte 0, for verify and for cat."""
    (tmp_path / "a.events").write_bytes(b"")
    (tmp_path / "b.events.gz").write_bytes(
        bytes.fromhex("1f8b08000000000000ff030000000000000000"))
    for name in ("a.events", "b.events.gz"):
        verify = shoebox("verify", name, cwd=tmp_path)
        assert verify.returncode == 1, (name, verify.stdout)
        assert "byte 0" in verify.stdout + verify.stderr


BOMB_READER = textwrap.dedent("""
    import sys
    from shoebox_core.errors import CorruptArchive
    from shoebox_core.format import read_records
    try:
        with open(sys.argv[1], "rb") as f:
            for _ in read_records(f, sys.argv[1]):
                pass
    except CorruptArchive as exc:
        print("refused:", exc)
    # VmHWM: this process's peak resident memory (ru_maxrss would carry the parent's peak
    # across fork and exec).
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    print(int(peak.split()[1]) // 1024)
""")


def _zstd_rle_frame(size: int, declared: int | None) -> bytes:
    """A zstd frame of RLE blocks regenerating ``size`` bytes from a few bytes each."""
    if declared is None:
        out = b"\x28\xb5\x2f\xfd\x00\x58"
    else:
        out = b"\x28\xb5\x2f\xfd\xe0" + declared.to_bytes(8, "little")
    left = size
    while left:
        n = min(left, 1 << 17)
        left -= n
        out += (int(not left) | 1 << 1 | n << 3).to_bytes(3, "little") + b"x"
    return out


@pytest.mark.parametrize("declared", [400 << 20, None], ids=["declared", "undeclared"])
def test_a_decompression_bomb_is_refused_without_allocating_it(tmp_path, declared):
    """Issue 10 item 13: a few KB of zstd block inflating to 400 MiB, its raw_len 1 KiB: the
    reader refuses it with at most raw_len of output, whether or not the frame declares its
    size."""
    sync = os.urandom(16)
    body = _zstd_rle_frame(400 << 20, declared)
    assert len(body) < 20_000
    path = tmp_path / "bomb.events"
    path.write_bytes(_v2.pack_file_header({"sync": sync, "created_ns": 1, "seq": 0})
                     + _v2.encode_block_header(sync, _v2.KIND_RECORDS, 1, body, 1024,
                                               _v2.CODEC_ZSTD) + body)
    done = subprocess.run([sys.executable, "-c", BOMB_READER, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    refused, peak_mib = done.stdout.splitlines()
    assert refused.startswith("refused:") and "zstd" in refused
    assert int(peak_mib) < 200, done.stdout  # far below the 400 MiB the frame would inflate to


SURROGATES = textwrap.dedent("""
    import sys, tempfile
    from shoebox_core.format import codec
    from shoebox_core.write import CountRollChecker, WritingRollManager
    with WritingRollManager("s_{seq}.events", CountRollChecker(roll_records=10),
                            tempfile.mkdtemp()) as writer:
        for metadata, payload in [({"k\\ud800": "v"}, "p"), ({"key": "v\\udc00"}, "p"),
                                  ({"k": "v"}, "p\\ud800")]:
            for call in (lambda: writer.write(metadata, payload),
                         lambda: writer.write_many([({"a": "b"}, "c"), (metadata, payload)])):
                try:
                    call()
                except UnicodeEncodeError as exc:
                    print(exc.reason)
    print(codec.NATIVE)
""")


def test_a_lone_surrogate_is_refused_naming_the_key_on_both_paths(tmp_path):
    """Issue 10 item 14: through the writer (write and write_many), the error names the key,
    the value's key or the payload, identically on the compiled and pure-Python paths."""
    outputs = []
    for pure in ("0", "1"):
        done = subprocess.run([sys.executable, "-c", SURROGATES], capture_output=True,
                              text=True, check=True, timeout=120,
                              env={**os.environ, "SHOEBOX_PURE_PYTHON": pure})
        *reasons, native = done.stdout.splitlines()
        assert native == ("True" if pure == "0" else "False")
        outputs.append(reasons)
    assert outputs[0] == outputs[1]
    assert outputs[0] == [
        "surrogates not allowed (in metadata key 'k\\ud800')",
        "surrogates not allowed (in metadata key 'k\\ud800')",
        "surrogates not allowed (in the metadata value for key 'key')",
        "surrogates not allowed (in the metadata value for key 'key')",
        "surrogates not allowed (in the payload)",
        "surrogates not allowed (in the payload)",
    ]
