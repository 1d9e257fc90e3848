"""The conformance vectors (``conformance/``): our reader, pure-Python and compiled, reads every
one as its manifest says, and ``generate.py`` reproduces the committed vectors byte for byte."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.format import read_records

ROOT = Path(__file__).resolve().parents[2] / "conformance"
VECTORS = ROOT / "vectors"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))["vectors"]


def as_expected(records):
    return [[dict(m), {"bin": p.hex()} if isinstance(p, bytes) else {"str": p}]
            for m, p in records]


def outcome(data: bytes, name: str, mode: str):
    """What our reader makes of ``data``, in the manifest's form."""
    records: list = []
    damage: list = []
    reader = read_records(io.BytesIO(data), name, lenient=mode == "lenient",
                          report=lambda o, n, _reason: damage.append([o, n]),
                          in_progress=mode == "in_progress")
    try:
        for record in reader:
            records.append(record)
    except CorruptArchive as exc:
        assert exc.path == name and name in str(exc)
        kind = "truncated" if isinstance(exc, TruncatedArchive) else "corrupt"
        return {"error": kind, "offset": exc.offset}
    result = {"records": as_expected(records)}
    if mode == "lenient":
        result["damage"] = damage
    return result


def matches(expected, got) -> bool:
    """``expected`` with None as "any value" (FORMAT.md leaves that offset unspecified)."""
    if expected is None:
        return True
    if isinstance(expected, dict):
        return isinstance(got, dict) and expected.keys() == got.keys() and all(
            matches(expected[k], got[k]) for k in expected)
    if isinstance(expected, list):
        return isinstance(got, list) and len(expected) == len(got) and all(
            matches(e, g) for e, g in zip(expected, got))
    return expected == got


CASES = [(v, mode) for v in MANIFEST for mode in ("strict", "lenient", "in_progress")
         if mode in v]


@pytest.mark.parametrize("vector,mode", CASES, ids=[f"{v['file']}-{m}" for v, m in CASES])
def test_reader_reads_every_vector_as_the_manifest_says(vector, mode):
    data = (VECTORS / vector["file"]).read_bytes()
    got = outcome(data, vector["file"], mode)
    assert matches(vector[mode], got), (vector["about"], got)


def test_the_compiled_and_pure_paths_agree_on_every_vector():
    # The other path, in a fresh interpreter (the choice is made at import).
    code = (
        "import io, json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_conformance import CASES, outcome, VECTORS\n"
        "from shoebox_core.format import codec\n"
        "out = [outcome((VECTORS / v['file']).read_bytes(), v['file'], m) for v, m in CASES]\n"
        "print(json.dumps([codec.NATIVE, out]))\n"
    )
    results = []
    for pure in ("0", "1"):
        env = {**os.environ, "SHOEBOX_PURE_PYTHON": pure}
        done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)],
                              env=env, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout))
    (native, compiled), (pure_native, pure) = results
    assert native and not pure_native
    assert compiled == pure
    for (vector, mode), got in zip(CASES, pure):
        assert matches(vector[mode], got), (vector["file"], mode, got)


def test_generate_reproduces_the_committed_vectors(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "generate.py"), str(tmp_path)], check=True,
                   capture_output=True)
    made = sorted(os.listdir(tmp_path))
    assert made == sorted(os.listdir(VECTORS))
    for name in made:
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


def test_vectors_stay_small_and_cover_every_question():
    assert sum(p.stat().st_size for p in VECTORS.iterdir()) < 512 * 1024
    asked = {q for v in MANIFEST for q in v["questions"]}
    assert {str(n) for n in range(1, 22)} <= asked
