"""Compressing callbacks and transparent decompression."""

from __future__ import annotations

import gzip
import io
import os
import random
from pathlib import Path
from typing import Any

import pytest
import zstandard

from shoebox_core.errors import ArchiveError, CallbackError, ConfigError
from shoebox_core.format.compressed import (
    decompressing_reader,
    open_decompressed,
    sniff_compression,
)
from shoebox_core.ship import compress as compression
from shoebox_core.ship.callbacks import CallbackChain
from shoebox_core.ship.compress import GzipCallback, ZstdCallback, create_partial
from shoebox_core.testing.callbacks import CallbackContract

CODECS = [(GzipCallback, ".gz", "gzip"), (ZstdCallback, ".zst", "zstd")]


def sample(size: int, seed: int = 0) -> bytes:
    """Half random, half repetitive: compressible, but not trivially."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(512)
        out += b'{"event": "compute.instance.update", "n": %d}\n' % len(out) * 10
    return bytes(out[:size])


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = sample(5 * 1024 * 1024 + 123)
    path = tmp_path / "big.events"
    path.write_bytes(data)
    return path, data


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_roundtrip_of_a_multi_megabyte_file(
    big_file: tuple[Path, bytes], cls: Any, suffix: str, codec: str
) -> None:
    path, data = big_file
    result = cls().on_close(str(path))
    assert result == str(path) + suffix
    assert not path.exists()
    assert files_in(path.parent) == [path.name + suffix]
    compressed = Path(result).read_bytes()
    assert len(compressed) < len(data)
    assert sniff_compression(compressed[:4]) == codec
    with open_decompressed(result) as reader:
        assert reader.read() == data


@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_keep_original(tmp_path: Path, cls: Any, suffix: str, codec: str) -> None:
    path = tmp_path / "a.events"
    path.write_bytes(b"hello " * 1000)
    result = cls(keep_original="yes").on_close(str(path))
    assert path.read_bytes() == b"hello " * 1000
    assert files_in(tmp_path) == ["a.events", "a.events" + suffix]
    with open_decompressed(result) as reader:
        assert reader.read() == b"hello " * 1000


@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_empty_file(tmp_path: Path, cls: Any, suffix: str, codec: str) -> None:
    path = tmp_path / "empty.events"
    path.write_bytes(b"")
    result = cls().on_close(str(path))
    with open_decompressed(result) as reader:
        assert reader.read() == b""


@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_existing_compressed_file_is_not_overwritten(
    tmp_path: Path, cls: Any, suffix: str, codec: str
) -> None:
    path = tmp_path / "x.events"
    path.write_bytes(b"new data")
    taken = tmp_path / ("x.events" + suffix)
    taken.write_bytes(b"precious")
    result = cls().on_close(str(path))
    assert taken.read_bytes() == b"precious"
    assert result == str(tmp_path / ("x~001.events" + suffix))
    with open_decompressed(result) as reader:
        assert reader.read() == b"new data"
    assert not path.exists()


@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_leftover_partial_file_is_left_alone(
    tmp_path: Path, cls: Any, suffix: str, codec: str
) -> None:
    path = tmp_path / "x.events"
    path.write_bytes(b"data")
    leftover = tmp_path / ("x.events" + suffix + ".partial")
    leftover.write_bytes(b"half of an earlier attempt")
    result = cls().on_close(str(path))
    assert result == str(path) + suffix
    assert leftover.read_bytes() == b"half of an earlier attempt"


def corrupt_then_verify(monkeypatch: pytest.MonkeyPatch, damage: Any) -> list[str]:
    """Make the verification step read a damaged partial file; return the partial names seen."""
    real = compression._decompressed_fingerprint
    seen: list[str] = []

    def damaged(path: str, codec: str) -> Any:
        seen.append(path)
        damage(path)
        return real(path, codec)

    monkeypatch.setattr(compression, "_decompressed_fingerprint", damaged)
    return seen


def flip_middle_byte(path: str) -> None:
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, io.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def truncate(path: str) -> None:
    os.truncate(path, os.path.getsize(path) - 10)


def append_a_second_stream(path: str) -> None:
    # Still a valid stream, but it decompresses to more bytes than the original holds.
    gz = path.endswith(".gz.partial")
    extra = gzip.compress(b"extra") if gz else zstandard.compress(b"extra")
    with open(path, "ab") as f:
        f.write(extra)


@pytest.mark.parametrize("damage", [flip_middle_byte, truncate, append_a_second_stream])
@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_verification_failure_keeps_the_original(
    big_file: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    cls: Any,
    suffix: str,
    codec: str,
    damage: Any,
) -> None:
    path, data = big_file
    seen = corrupt_then_verify(monkeypatch, damage)
    with pytest.raises(ArchiveError) as info:
        cls().on_close(str(path))
    assert "verification failed" in str(info.value)
    assert info.value.path == str(path)
    assert seen == [str(path) + suffix + ".partial"]
    assert path.read_bytes() == data
    assert files_in(path.parent) == [path.name]


def test_failure_inside_a_chain_names_the_callback(
    big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file
    corrupt_then_verify(monkeypatch, truncate)
    with pytest.raises(CallbackError) as info:
        CallbackChain([GzipCallback(), ZstdCallback()]).on_close(str(path))
    assert info.value.callback == "gzip"
    assert info.value.skipped == ("zstd",)
    assert path.read_bytes() == data


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="cannot zstd-compress"):
        ZstdCallback().on_close(str(tmp_path / "nope.events"))
    assert files_in(tmp_path) == []


def test_options_accept_numeric_strings_and_reject_bad_values() -> None:
    assert GzipCallback(level="9").level == 9
    assert ZstdCallback(level="-5", threads="2").threads == 2
    for bad in [
        lambda: GzipCallback(level=10),
        lambda: GzipCallback(level="fast"),
        lambda: ZstdCallback(level=23),
        lambda: ZstdCallback(threads=-2),
        lambda: ZstdCallback(keep_original="maybe"),
    ]:
        with pytest.raises(ConfigError):
            bad()
    with pytest.raises(TypeError):
        GzipCallback(6)  # type: ignore[call-arg]


def test_zstd_with_threads(big_file: tuple[Path, bytes]) -> None:
    path, data = big_file
    result = ZstdCallback(level=1, threads=2).on_close(str(path))
    with open_decompressed(result) as reader:
        assert reader.read() == data


def test_create_partial_never_reuses_a_name(tmp_path: Path) -> None:
    target = str(tmp_path / "t.gz")
    fd1, name1 = create_partial(target)
    fd2, name2 = create_partial(target)
    os.close(fd1)
    os.close(fd2)
    assert (name1, name2) == (target + ".partial", target + ".1.partial")


@pytest.mark.parametrize(
    "head, codec",
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x50\x2a\x4d\x18", "zstd"),
        (b"TNVE", None),
        (b"\x1f", None),
        (b"", None),
    ],
)
def test_sniff_compression(head: bytes, codec: str | None) -> None:
    assert sniff_compression(head) == codec


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), 3, len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


ENCODERS = {
    "gzip": lambda data: gzip.compress(data[:1000]) + gzip.compress(data[1000:]),
    "zstd": lambda data: zstandard.compress(data[:1000]) + zstandard.compress(data[1000:]),
    None: lambda data: data,
}


@pytest.mark.parametrize("codec", ["gzip", "zstd", None])
def test_open_decompressed_reads_a_non_seekable_stream(codec: str | None) -> None:
    data = sample(200_000, seed=3)
    stream = Trickle(ENCODERS[codec](data))
    with open_decompressed(stream) as reader:
        assert reader.read(10) == data[:10]
        buffer = bytearray(5000)
        assert reader.readinto(buffer) == 5000
        assert bytes(buffer) == data[10:5010]
        rest = reader.read()
    assert rest == data[5010:]
    assert not stream.closed  # the caller's stream is the caller's to close


@pytest.mark.parametrize("codec", ["gzip", "zstd", None])
def test_open_decompressed_from_a_seekable_stream_and_a_path(
    tmp_path: Path, codec: str | None
) -> None:
    data = sample(50_000, seed=4)
    encoded = ENCODERS[codec](data)
    stream = io.BytesIO(encoded)
    with open_decompressed(stream) as reader:
        assert reader.read() == data
    assert not stream.closed
    path = tmp_path / "f.bin"
    path.write_bytes(encoded)
    with open_decompressed(path) as reader:
        assert reader.read(len(data) + 1) == data


def test_open_decompressed_with_a_forced_codec() -> None:
    data = gzip.compress(b"abc")
    with open_decompressed(io.BytesIO(data), codec=None) as reader:
        assert reader.read() == data
    with open_decompressed(io.BytesIO(data), codec="gzip") as reader:
        assert reader.read() == b"abc"


def test_decompressing_reader_closefd() -> None:
    raw = io.BytesIO(gzip.compress(b"abc"))
    reader = decompressing_reader(raw, "gzip", closefd=True)
    assert reader.read() == b"abc"
    reader.close()
    assert raw.closed
    raw = io.BytesIO(zstandard.compress(b"abc"))
    reader = decompressing_reader(raw, "zstd")
    assert reader.read() == b"abc"
    reader.close()
    assert not raw.closed
    with pytest.raises(ValueError, match="unknown compression codec"):
        decompressing_reader(raw, "lz4")


class TestGzipContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> GzipCallback:
        return GzipCallback(level=1)


class TestGzipKeepOriginalContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> GzipCallback:
        return GzipCallback(keep_original=True)


class TestZstdContract(CallbackContract):
    def make_callback(self, tmp_path: Path) -> ZstdCallback:
        return ZstdCallback()


@pytest.mark.parametrize("cls, suffix, codec", CODECS)
def test_a_file_that_cannot_be_mapped_is_read_in_steps(
    big_file: tuple[Path, bytes], cls: Any, suffix: str, codec: str, monkeypatch: Any
) -> None:
    """Where mmap is refused (a file system without it), the file is read into one reused
    buffer instead, step by step, to the same result."""
    import mmap as _mmap

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(19, "No such device")

    monkeypatch.setattr(_mmap, "mmap", refuse)
    path, data = big_file
    result = cls().on_close(str(path))
    with open_decompressed(result) as reader:
        assert reader.read() == data
