"""Helpers of the shoebox-collect tests: what a destination holds, checked by zipfile and unzip."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from shoebox_collect.destination import part_number


def parts(base: Path, archive: str) -> list[Path]:
    """The parts of ``archive`` under ``base``, first part first."""
    found = [(part_number(archive, p.name), p) for p in base.iterdir()]
    return [p for n, p in sorted((n, p) for n, p in found if n is not None)]


def contents(base: Path, archive: str) -> dict[str, str]:
    """Entry name -> SHA-256 over every part of ``archive``; fails on a name stored twice and
    on any entry zipfile cannot read back intact (testzip checks every CRC)."""
    out: dict[str, str] = {}
    for path in parts(base, archive):
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None, path
            for info in zf.infolist():
                assert info.filename not in out, f"{info.filename} stored twice"
                digest = hashlib.sha256()
                with zf.open(info) as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                out[info.filename] = digest.hexdigest()
    return out


def unzip_ok(path: Path) -> None:
    """``unzip -t`` accepts ``path`` (when unzip is installed; zipfile checks it anyway)."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
    if shutil.which("unzip"):
        ran = subprocess.run(["unzip", "-t", "-qq", str(path)], capture_output=True, text=True)
        assert ran.returncode == 0, ran.stdout + ran.stderr


def sha(data: bytes) -> str:
    """SHA-256 of ``data`` in hex."""
    return hashlib.sha256(data).hexdigest()


def inbox_files(base: Path) -> list[str]:
    """Every file left in the inbox directory."""
    inbox = base / ".shoebox" / "inbox"
    return sorted(os.listdir(inbox)) if inbox.exists() else []


