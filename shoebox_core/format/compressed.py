"""Reading compressed archives: ``.gz`` and ``.zst`` files are detected by their magic and
decompressed on the fly, including from non-seekable streams (:func:`open_decompressed`,
:func:`sniff_compression`, :func:`decompressing_reader`).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import IO, Any, cast

import zstandard

from ..errors import CorruptArchive, TruncatedArchive

__all__ = [
    "CODECS",
    "CHUNK_SIZE",
    "StrictDecompressor",
    "decompressing_reader",
    "open_decompressed",
    "sniff_compression",
]

CODECS = ("gzip", "zstd")
CHUNK_SIZE = 1 << 20
SNIFF_BYTES = 4

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Errors a decompressor raises on damaged input, besides OSError (gzip.BadGzipFile is one).
_DECODE_ERRORS = (EOFError, zlib.error, zstandard.ZstdError)


def sniff_compression(head: bytes) -> str | None:
    """The codec whose magic number starts ``head``: ``"gzip"``, ``"zstd"`` or ``None``.

    Pass at least the first four bytes of the stream.
    """
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    if head[:4] == _ZSTD_MAGIC:
        return "zstd"
    # A zstd stream may start with a skippable frame (magic 0x184D2A50 to 0x184D2A5F).
    if len(head) >= 4 and int.from_bytes(head[:4], "little") & 0xFFFFFFF0 == 0x184D2A50:
        return "zstd"
    return None


class _OwningGzipFile(gzip.GzipFile):
    """A reading GzipFile that also closes the stream it reads from."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__(fileobj=source, mode="rb")
        self._source = source

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._source.close()


def decompressing_reader(
    raw: IO[bytes] | io.IOBase, codec: str | None, *, closefd: bool = False
) -> io.BufferedIOBase:
    """A binary stream of the decompressed bytes of ``raw``, which holds ``codec`` data.

    ``codec`` is ``"gzip"``, ``"zstd"`` or ``None`` (then ``raw`` itself is returned). ``raw`` is
    only read sequentially, so it may be a pipe or a network stream. Concatenated gzip members and
    zstd frames are read as one stream. The decompressing reader supports ``read(n)``, which returns
    ``n`` bytes unless the end is reached, and ``readinto``; closing it closes ``raw`` only when
    ``closefd`` is true.
    """
    stream = cast(IO[bytes], raw)
    if codec is None:
        return cast(io.BufferedIOBase, stream)
    if codec == "gzip":
        if closefd:
            return _OwningGzipFile(stream)
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if codec == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            stream, read_across_frames=True, closefd=closefd
        )
        return cast(io.BufferedIOBase, reader)
    raise ValueError(f"unknown compression codec {codec!r}; expected one of {CODECS} or None")


class _PrefixedReader(io.RawIOBase):
    """Bytes already read from a non-seekable stream, followed by the rest of that stream."""

    def __init__(self, prefix: bytes, source: IO[bytes], *, closefd: bool) -> None:
        self._prefix = memoryview(prefix)
        self._source = source
        self._closefd = closefd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed and self._closefd:
            self._source.close()
        super().close()


def _buffered(reader: _PrefixedReader) -> IO[bytes]:
    return cast(IO[bytes], io.BufferedReader(reader, CHUNK_SIZE))


def _read_head(raw: IO[bytes], size: int) -> bytes:
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        data = raw.read(wanted)
        if not data:
            break
        parts.append(data)
        wanted -= len(data)
    return b"".join(parts)


def open_decompressed(
    source: str | os.PathLike[str] | IO[bytes] | io.IOBase, codec: str | None = "auto"
) -> io.BufferedIOBase:
    """Open a path or binary stream for reading, decompressing gzip or zstd data transparently.

    With ``codec="auto"`` the codec is recognised by its magic number, not by the file name;
    ``None``, ``"gzip"`` or ``"zstd"`` force it. A stream is read from its current position, and
    need not be seekable. Closing the result closes the file when ``source`` was a path, never a
    stream the caller passed in.
    """
    if isinstance(source, (str, os.PathLike)):
        raw: IO[bytes] = open(source, "rb")
        owned = True
    else:
        raw = cast(IO[bytes], source)
        owned = False
    try:
        wrapped = False
        if codec == "auto":
            if raw.seekable():
                position = raw.tell()
                head = _read_head(raw, SNIFF_BYTES)
                raw.seek(position)
            else:
                head = _read_head(raw, SNIFF_BYTES)
                # Put the sniffed bytes back in front.
                raw, wrapped = _buffered(_PrefixedReader(head, raw, closefd=owned)), True
            codec = sniff_compression(head)
        if codec is None and not owned and not wrapped:
            # Shield the caller's stream from our close(), and make read(n) return n bytes.
            raw = _buffered(_PrefixedReader(b"", raw, closefd=False))
        return decompressing_reader(raw, codec, closefd=owned)
    except BaseException:
        if owned:
            raw.close()
        raise




_GZIP_STEP = 64 * 1024  # compressed bytes fed at once
_ZSTD_STEP = 4 * 1024  # less for zstd: its decompressobj has no output cap (at most ~128 MiB)


class StrictDecompressor(io.RawIOBase):
    """The decompressed bytes of a whole-file ``.gz`` / ``.zst`` archive, as FORMAT.md reads
    them ("Whole-file compression"): several gzip members or zstd frames read as one stream;
    anything after the last one that does not start another is damage; a stream cut short or
    failing its own checks is damage, never a quiet end of file.

    ``read`` raises :class:`~shoebox_core.errors.TruncatedArchive` (cut short) or
    :class:`~shoebox_core.errors.CorruptArchive` (corrupt; bytes after the last member), whose
    offset is the number of decompressed bytes produced before the failure. ``path`` names the
    file in errors.
    """

    def __init__(self, raw: IO[bytes], codec: str, path: str = "") -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown compression codec {codec!r}; expected one of {CODECS}")
        self._raw = raw
        self._codec = codec
        self._path = path
        self._step = _GZIP_STEP if codec == "gzip" else _ZSTD_STEP
        self._decoder: object | None = self._new_decoder()
        self._input = b""  # compressed bytes not yet given to the decoder
        self._output = memoryview(b"")  # decompressed bytes not yet returned
        self._produced = 0  # decompressed bytes returned so far
        self._done = False

    def _new_decoder(self) -> object:
        if self._codec == "gzip":
            return zlib.decompressobj(wbits=31)
        return zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def _fail(self, error: type[CorruptArchive], reason: str) -> CorruptArchive:
        return error(f"{self._codec} stream {reason}", path=self._path, offset=self._produced)

    def _fill(self) -> None:
        """Decode more, until some output is there or the stream has properly ended."""
        while not self._output and not self._done:
            if self._decoder is None:  # after a member: another one, or the end
                rest = self._input
                while len(rest) < 4 and (more := self._raw.read(self._step)):
                    rest += more
                if not rest:
                    self._done = True
                    return
                if sniff_compression(rest) != self._codec:
                    raise self._fail(CorruptArchive, "has data after its last member")
                self._input = rest
                self._decoder = self._new_decoder()
            decoder = cast(Any, self._decoder)
            if not self._input:
                self._input = self._raw.read(self._step)
                if not self._input:
                    raise self._fail(TruncatedArchive, "ends inside a member (cut short)")
            chunk = self._input[: self._step]
            self._input = self._input[self._step :]
            try:
                if self._codec == "gzip":
                    # An output cap; the input it left goes back in front.
                    data = decoder.decompress(chunk, CHUNK_SIZE)
                    self._input = decoder.unconsumed_tail + self._input
                else:
                    data = decoder.decompress(chunk)
            except (zlib.error, zstandard.ZstdError) as exc:
                raise self._fail(CorruptArchive, f"is corrupt: {exc}") from None
            self._output = memoryview(data)
            if decoder.eof:
                self._input = decoder.unused_data + self._input
                self._decoder = None

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._output:
            self._fill()
        n = min(len(buffer), len(self._output))
        buffer[:n] = self._output[:n]
        self._output = self._output[n:]
        self._produced += n
        return n
