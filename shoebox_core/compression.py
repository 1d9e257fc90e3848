"""Compressing sealed archives (gzip, zstd) and reading compressed archives back transparently.

:class:`GzipCallback` and :class:`ZstdCallback` are on-close callbacks. Each streams the sealed file
into ``<name>.partial`` next to the target (created exclusively, so nothing is overwritten),
fsyncs it, and then *verifies* it: the partial file is decompressed again and its length and CRC32C
must equal those of the original, measured while compressing. Only then is the partial file renamed
to ``<name>.gz`` / ``<name>.zst`` (without overwriting: a taken name gets a ``~001`` alternative)
and the original deleted. On any failure the original is untouched and the partial file removed.

A leftover ``*.partial`` file (the process was killed mid-way) is always an incomplete copy whose
source still exists; it is safe to delete. It deliberately does not end in ``.inprogress``, so it is
never mistaken for an unsealed archive.

:func:`open_decompressed`, :func:`sniff_compression` and :func:`decompressing_reader` let readers
open ``.gz`` and ``.zst`` archives, including from non-seekable streams.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import IO, BinaryIO, cast

import crc32c as _crc32c
import zstandard

from ._fsutil import fsync_dir, rename_no_clobber
from .callbacks import ArchiveCallback
from .errors import ArchiveError, ConfigError
from .journal import StepContext, current_step
from .options import boolean, number

__all__ = [
    "CODECS",
    "GzipCallback",
    "PARTIAL_SUFFIX",
    "ZstdCallback",
    "create_partial",
    "decompressing_reader",
    "open_decompressed",
    "sniff_compression",
]

CODECS = ("gzip", "zstd")
PARTIAL_SUFFIX = ".partial"
CHUNK_SIZE = 1 << 20
SNIFF_BYTES = 4
ZSTD_MIN_LEVEL = -(1 << 17)

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


def create_partial(target: str) -> tuple[int, str]:
    """Create a new, empty ``<target>.partial`` file exclusively; return its descriptor and name.

    A leftover partial file of an earlier attempt is left alone: the next free name
    ``<target>.1.partial``, ``<target>.2.partial``... is taken instead.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for n in range(1000):
        name = f"{target}{PARTIAL_SUFFIX}" if n == 0 else f"{target}.{n}{PARTIAL_SUFFIX}"
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free partial file name for {target} (1000 leftovers?)")


def _remove_stale_partials(target: str) -> None:
    """Delete the partial files of ``target`` an earlier, killed attempt left (``<target>.partial``,
    ``<target>.N.partial``). Only for a caller that owns ``target`` (a resumed journaled step)."""
    directory, base = os.path.split(target)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    for name in names:
        if name.startswith(base + ".") and name.endswith(PARTIAL_SUFFIX):
            middle = name[len(base) : -len(PARTIAL_SUFFIX)]
            if middle == "" or middle[1:].isdigit():
                _remove_quietly(os.path.join(directory, name))


def _remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists, ignoring errors: used to clean up after a failure."""
    try:
        os.unlink(path)
    except OSError:
        pass


class _Fingerprint:
    """Length and CRC32C of a byte stream, accumulated chunk by chunk."""

    __slots__ = ("length", "crc")

    def __init__(self) -> None:
        self.length = 0
        self.crc = 0

    def update(self, chunk: bytes) -> None:
        self.length += len(chunk)
        self.crc = _crc32c.crc32c(chunk, self.crc)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Fingerprint):
            return NotImplemented
        return (self.length, self.crc) == (other.length, other.crc)

    def __repr__(self) -> str:
        return f"{self.length} bytes, crc32c {self.crc:08x}"


def _decompressed_fingerprint(path: str, codec: str) -> _Fingerprint:
    """Decompress ``path`` and measure what comes out: the verification step."""
    result = _Fingerprint()
    with open(path, "rb") as raw, decompressing_reader(raw, codec) as reader:
        while chunk := reader.read(CHUNK_SIZE):
            result.update(chunk)
    return result


class _CompressingCallback(ArchiveCallback):
    """Shared on_close of the compressing callbacks; subclasses set ``codec`` and ``suffix``."""

    codec = ""
    suffix = ""

    def __init__(self, *, keep_original: object = False) -> None:
        super().__init__()
        self.keep_original = boolean(keep_original, "keep_original", owner=type(self).__name__)

    def _writer(self, out: BinaryIO, source_name: str, stat: os.stat_result) -> BinaryIO:
        raise NotImplementedError

    def on_close(self, filename: str) -> str:
        """Compress ``filename``, verify the result and return its name; delete the original
        unless ``keep_original``."""
        source = os.fspath(filename)
        target = source + self.suffix
        # Inside a journaled chain (a resume after a crash), the compressed copy an earlier,
        # killed attempt made is reused instead of making a second one; its partial files go.
        step = current_step()
        final = self._resume(source, step) if step is not None else None
        if final is None:
            final = self._compress_verified(source, target, step)
        if not self.keep_original:
            try:
                os.unlink(source)
                fsync_dir(os.path.dirname(source))
            except OSError as exc:
                raise ArchiveError(
                    f"compressed and verified as {final}, but the original could not be "
                    f"deleted: {exc}",
                    path=source,
                ) from exc
        return final

    def _compress_verified(self, source: str, target: str, step: StepContext | None) -> str:
        if step is not None:
            _remove_stale_partials(target)
        try:
            stat = os.stat(source)
            fd, partial = create_partial(target)
        except OSError as exc:
            raise ArchiveError(f"cannot {self.codec}-compress: {exc}", path=source) from exc
        try:
            written = self._compress(source, fd, partial, stat)
            self._verify(source, partial, written)
            if step is not None:
                step.record(output=target)
            try:
                final = rename_no_clobber(partial, target)
            except OSError as exc:
                raise ArchiveError(
                    f"{self.codec}: cannot rename {partial} to {target}: {exc}", path=source
                ) from exc
        except BaseException:
            _remove_quietly(partial)
            raise
        if step is not None:
            # "completed": if the original is gone when the chain resumes, this step is done
            # and the chain goes on with ``output``.
            step.record(output=final, completed=True)
        return final

    def _resume(self, source: str, step: StepContext) -> str | None:
        """The compressed copy of ``source`` a killed attempt noted, if it is complete."""
        noted = step.note.get("output")
        if not isinstance(noted, str) or not os.path.exists(noted) or noted == source:
            return None
        try:
            original = _Fingerprint()
            with open(source, "rb") as src:
                while chunk := src.read(CHUNK_SIZE):
                    original.update(chunk)
            if _decompressed_fingerprint(noted, self.codec) != original:
                return None
        except (OSError, *_DECODE_ERRORS):
            return None
        _remove_stale_partials(noted)
        return noted

    def _compress(self, source: str, fd: int, partial: str, stat: os.stat_result) -> _Fingerprint:
        measured = _Fingerprint()
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                with self._writer(cast(BinaryIO, out), os.path.basename(source), stat) as writer:
                    while chunk := src.read(CHUNK_SIZE):
                        measured.update(chunk)
                        writer.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (OSError, zstandard.ZstdError) as exc:
            raise ArchiveError(
                f"{self.codec} compression into {partial} failed: {exc}", path=source
            ) from exc
        return measured

    def _verify(self, source: str, partial: str, expected: _Fingerprint) -> None:
        try:
            found = _decompressed_fingerprint(partial, self.codec)
        except (OSError, *_DECODE_ERRORS) as exc:
            raise ArchiveError(
                f"verification failed: {partial} cannot be decompressed ({exc!r}); "
                "the original is kept",
                path=source,
            ) from exc
        if found != expected:
            raise ArchiveError(
                f"verification failed: {partial} decompresses to {found!r}, the original has "
                f"{expected!r}; the original is kept",
                path=source,
            )

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in sorted(vars(self).items()))
        return f"{type(self).__name__}({options})"


class GzipCallback(_CompressingCallback):
    """On close, compress the archive to ``<name>.gz`` (verified) and delete the original.

    ``level`` is 0 (store) to 9 (smallest); ``keep_original`` keeps the uncompressed file.
    """

    name = "gzip"
    codec = "gzip"
    suffix = ".gz"

    def __init__(self, *, level: object = 6, keep_original: object = False) -> None:
        super().__init__(keep_original=keep_original)
        self.level = _level(level, "GzipCallback", 0, 9)

    def _writer(self, out: BinaryIO, source_name: str, stat: os.stat_result) -> BinaryIO:
        return cast(
            BinaryIO,
            gzip.GzipFile(
                filename=source_name,
                mode="wb",
                fileobj=out,
                compresslevel=self.level,
                mtime=int(stat.st_mtime),
            ),
        )


class ZstdCallback(_CompressingCallback):
    """On close, compress the archive to ``<name>.zst`` (verified) and delete the original.

    ``level`` is a zstd level (negative for faster, up to 22; default 1: on shoebox archives it
    compresses as well as level 3, 7.2x against 6.6x on the benchmark's small records, for less
    CPU, which the writer shares with the background worker); ``threads`` > 0 compresses with
    that many worker threads, -1 with one per CPU; ``keep_original`` keeps the uncompressed file.
    """

    name = "zstd"
    codec = "zstd"
    suffix = ".zst"

    def __init__(
        self, *, level: object = 1, keep_original: object = False, threads: object = 0
    ) -> None:
        super().__init__(keep_original=keep_original)
        self.level = _level(level, "ZstdCallback", ZSTD_MIN_LEVEL, zstandard.MAX_COMPRESSION_LEVEL)
        count = int(number(threads, "threads", owner="ZstdCallback", positive=False, integer=True))
        if count < -1:
            raise ConfigError(f"ZstdCallback: option 'threads' must be -1 or more, got {threads!r}")
        self.threads = count

    def _writer(self, out: BinaryIO, source_name: str, stat: os.stat_result) -> BinaryIO:
        compressor = zstandard.ZstdCompressor(
            level=self.level, threads=self.threads, write_checksum=True
        )
        # The declared size goes into the frame header; zstd refuses a source of another size.
        return cast(BinaryIO, compressor.stream_writer(out, size=stat.st_size, closefd=False))


def _level(value: object, owner: str, low: int, high: int) -> int:
    level = int(number(value, "level", owner=owner, positive=False, integer=True))
    if not low <= level <= high:
        raise ConfigError(f"{owner}: option 'level' must be from {low} to {high}, got {value!r}")
    return level
