"""Destinations: ``"results.zip/run7/out.txt"`` names an archive under the base directory and an
entry in it. Checked before anything is staged, so a bad name never reaches a collector."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["ARCHIVE_SUFFIXES", "Destination", "parse_destination", "part_name"]

#: The archive kinds a destination may name (the first path component must end with one).
ARCHIVE_SUFFIXES = (".zip",)

# ``results~002.zip`` is the second part of ``results.zip`` (see part_name): reserved.
_PART = re.compile(r"~\d+(\.[^.~/]+)$")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Destination:
    """A checked destination: ``archive`` (a file name under the base directory, e.g.
    ``"results.zip"``) and ``name`` (the entry in it, e.g. ``"run7/out.txt"``)."""

    archive: str
    name: str

    def __str__(self) -> str:
        return f"{self.archive}/{self.name}"


def _refuse(dest: object, why: str) -> ValueError:
    return ValueError(f"destination {dest!r} refused: {why}")


def parse_destination(dest: str | os.PathLike[str]) -> Destination:
    """Check ``dest`` and split it into archive and entry name.

    Raises ``ValueError`` naming ``dest`` when it has no archive component (``"plain.txt"``), an
    empty entry name (``"a.zip"``, ``"a.zip/"``), a ``.`` or ``..`` component anywhere, an empty
    component (``"a.zip//b"``), an absolute path, a drive (``"C:..."``), a backslash or a control
    character, or names a numbered part (``"a~002.zip"``) of another destination.
    """
    text = os.fspath(dest)
    if not isinstance(text, str):
        raise TypeError(f"destination must be a str, got {type(text).__name__}")
    if not text:
        raise _refuse(text, "it is empty")
    if text.startswith("/"):
        raise _refuse(text, "it is an absolute path; name an archive under the base directory")
    if _DRIVE.match(text):
        raise _refuse(text, "it starts with a drive; name an archive under the base directory")
    if "\\" in text:
        raise _refuse(text, "it contains a backslash; separate components with '/'")
    if _CONTROL.search(text):
        raise _refuse(text, "it contains a control character")
    archive, _, name = text.partition("/")
    if ".." in text.split("/"):
        raise _refuse(text, "'..' would leave the archive or the base directory")
    _check_archive(text, archive)
    rest = name.split("/")
    if "." in rest:
        raise _refuse(text, "'.' components are not allowed")
    if not name:
        raise _refuse(text, "the entry name inside the archive is empty")
    if "" in rest:
        raise _refuse(text, "it has an empty path component (a '//' or a trailing '/')")
    return Destination(archive, name)


@lru_cache(maxsize=256)
def _archive_problem(archive: str) -> str:
    """What is wrong with ``archive`` as an archive name ("" if nothing): asked once per name."""
    if archive == ".":
        return "'.' components are not allowed"
    if not archive.endswith(ARCHIVE_SUFFIXES) or archive in ARCHIVE_SUFFIXES:
        return (
            f"its first component {archive!r} is not an archive; it must end with "
            f"{' or '.join(ARCHIVE_SUFFIXES)} (e.g. 'results.zip/{{destination}}')"
        )
    if _PART.search(archive):
        return f"{archive!r} is the name of a numbered part of another archive"
    if archive.startswith("."):
        return f"{archive!r} is hidden; archive names must not start with '.'"
    return ""


def _check_archive(text: str, archive: str) -> None:
    problem = _archive_problem(archive)
    if problem:
        raise _refuse(text, problem.replace("{destination}", text))


def part_name(archive: str, number: int) -> str:
    """The file name of part ``number`` (1-based) of ``archive``: ``results.zip``, then
    ``results~002.zip``, ``results~003.zip``..."""
    if number == 1:
        return archive
    stem, ext = os.path.splitext(archive)
    return f"{stem}~{number:03d}{ext}"


def part_number(archive: str, file_name: str) -> int | None:
    """The part number ``file_name`` has as a part of ``archive``, or None."""
    if file_name == archive:
        return 1
    stem, ext = os.path.splitext(archive)
    match = re.fullmatch(re.escape(stem) + r"~(\d{3,})" + re.escape(ext), file_name)
    if match is None or int(match.group(1)) < 2:
        return None
    return int(match.group(1))
