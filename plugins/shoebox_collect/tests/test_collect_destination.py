"""Destinations are checked when a file is staged, before anything reaches the inbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect_helpers import inbox_files

from shoebox_collect import Inbox, parse_destination
from shoebox_collect.destination import part_name, part_number

REFUSED = {
    "plain.txt": "is not an archive",
    "a.zip": "entry name inside the archive is empty",
    "a.zip/": "entry name inside the archive is empty",
    "a.zip/../x": "'..'",
    "a.zip/b/../../x": "'..'",
    "../a.zip/x": "'..'",
    "a.zip/./x": "'.'",
    "/abs/a.zip/x": "absolute path",
    "/a.zip/x": "absolute path",
    "C:/a.zip/x": "drive",
    "c:a.zip/x": "drive",
    "a.zip\\x": "backslash",
    "a.zip//x": "empty path component",
    "a.zip/x/": "empty path component",
    "a.zip/x\x00y": "control character",
    "a~002.zip/x": "numbered part",
    ".zip/x": "is not an archive",
    ".hidden.zip/x": "hidden",
    "": "empty",
    "dir/a.zip/x": "is not an archive",
}


@pytest.mark.parametrize("dest", sorted(REFUSED))
def test_refused_destinations_name_the_destination_and_stage_nothing(base: Path,
                                                                     dest: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_destination(dest)
    assert repr(dest) in str(refused.value)
    assert REFUSED[dest] in str(refused.value)
    source = base.parent / "source.bin"
    source.write_bytes(b"keep me")
    with Inbox(base) as inbox:
        with pytest.raises(ValueError, match="refused"):
            inbox.open(dest, "wb")
        with pytest.raises(ValueError, match="refused"):
            inbox.pickup(source, dest)
        with pytest.raises(ValueError, match="refused"):
            inbox.put(dest, b"x")
    assert source.read_bytes() == b"keep me"
    assert inbox_files(base) == []


@pytest.mark.parametrize(
    ("dest", "archive", "name"),
    [
        ("a.zip/x", "a.zip", "x"),
        ("results.zip/run7/out.txt", "results.zip", "run7/out.txt"),
        ("r.2024.zip/ünïcode name.txt", "r.2024.zip", "ünïcode name.txt"),
        ("a.zip/..hidden/...x", "a.zip", "..hidden/...x"),
        ("a~b.zip/x", "a~b.zip", "x"),
    ],
)
def test_accepted_destinations_split_into_archive_and_entry(dest: str, archive: str,
                                                            name: str) -> None:
    checked = parse_destination(dest)
    assert (checked.archive, checked.name, str(checked)) == (archive, name, dest)


def test_a_path_object_is_accepted_and_a_bytes_one_is_not() -> None:
    assert parse_destination(Path("a.zip/b/c")).name == "b/c"
    with pytest.raises(TypeError):
        parse_destination(b"a.zip/b")  # type: ignore[arg-type]


def test_part_names_round_trip() -> None:
    assert [part_name("r.zip", n) for n in (1, 2, 12)] == ["r.zip", "r~002.zip", "r~012.zip"]
    assert [part_number("r.zip", n) for n in ("r.zip", "r~002.zip", "r~012.zip")] == [1, 2, 12]
    assert part_number("r.zip", "r~001.zip") is None
    assert part_number("r.zip", "rr~002.zip") is None
    assert part_number("r.zip", "r.zip.lock") is None
