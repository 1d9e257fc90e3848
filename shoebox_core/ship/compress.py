"""Compressing sealed archives on close: :class:`GzipCallback` and :class:`ZstdCallback`.

Each streams the sealed file into ``<name>.partial`` next to the target (created exclusively, so
nothing is overwritten), fsyncs it, and then *verifies* it: the partial file is decompressed again
and its length and CRC32C must equal those of the original, measured while compressing. Only then
is the partial file renamed to ``<name>.gz`` / ``<name>.zst`` (without overwriting: a taken name
gets a ``~001`` alternative) and the original deleted. On any failure the original is untouched
and the partial file removed.

A leftover ``*.partial`` file (the process was killed mid-way) is always an incomplete copy whose
source still exists; it is safe to delete. It deliberately does not end in ``.inprogress``, so it is
never mistaken for an unsealed archive. Reading compressed archives lives in
:mod:`shoebox_core.format.compressed`.
"""

from __future__ import annotations

import gzip
import io
import mmap
import os
import zlib
from collections.abc import Generator
from typing import BinaryIO, cast

import crc32c as _crc32c
import zstandard

from .._fsutil import PARTIAL_SUFFIX, fsync_dir, rename_no_clobber
from ..errors import ArchiveError, ConfigError
from ..format.compressed import CHUNK_SIZE, CODECS, decompressing_reader
from ..options import boolean, number
from .callbacks import ArchiveCallback
from .journal import StepContext, current_step

__all__ = [
    "CODECS",
    "GzipCallback",
    "PARTIAL_SUFFIX",
    "ZstdCallback",
    "create_partial",
]

ZSTD_MIN_LEVEL = -(1 << 17)
_DECODE_ERRORS = (EOFError, zlib.error, zstandard.ZstdError)
# Bytes per step of compressing (a view of the mapped file) and of verifying (read into one reused
# buffer). Few, large steps:
# each step takes the GIL a few times (read, checksum, compress, write), and a worker thread
# waits for it while the writing thread is busy in Python, so small steps starve the worker.
_STEP = 4 * 1024 * 1024


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


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind ``exc`` (itself, or one it was raised while handling), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


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

    def update(self, chunk: bytes | memoryview) -> None:
        self.length += len(chunk)
        self.crc = _crc32c.crc32c(chunk, self.crc)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Fingerprint):
            return NotImplemented
        return (self.length, self.crc) == (other.length, other.crc)

    def __repr__(self) -> str:
        return f"{self.length} bytes, crc32c {self.crc:08x}"


def _steps(source: io.FileIO) -> Generator[memoryview, None, None]:
    """The bytes of ``source`` in views of :data:`_STEP` bytes: of a read-only map of the file
    (no copy: the compressor reads the page cache), or of one reused buffer where the file
    cannot be mapped. Each view is valid until the next one is asked for."""
    try:
        mapped = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # empty, or a file system without mmap
        buffer = bytearray(_STEP)
        with memoryview(buffer) as view:
            while count := source.readinto(buffer):
                with view[:count] as step:
                    yield step
        return
    try:
        with memoryview(mapped) as whole:
            for start in range(0, len(whole), _STEP):
                with whole[start : start + _STEP] as step:
                    yield step
    finally:
        mapped.close()


def _decompressed_fingerprint(path: str, codec: str) -> _Fingerprint:
    """Decompress ``path`` and measure what comes out: the verification step."""
    result = _Fingerprint()
    buffer = bytearray(_STEP)
    view = memoryview(buffer)
    with open(path, "rb") as raw, decompressing_reader(raw, codec) as reader:
        while count := reader.readinto(buffer):
            result.update(view[:count])
    return result


class _CompressingCallback(ArchiveCallback):
    """Shared on_close of the compressing callbacks; subclasses set ``codec`` and ``suffix``."""

    codec = ""
    suffix = ""
    #: The file is replaced by a compressed copy (its new name goes to the next step).
    local_effect = "compresses"

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
            raise ArchiveError(
                f"cannot {self.codec}-compress into {target}{PARTIAL_SUFFIX}: "
                f"{exc.strerror or exc}; the original is kept", path=source) from exc
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
            with os.fdopen(fd, "wb") as out, open(source, "rb", buffering=0) as src:
                with self._writer(cast(BinaryIO, out), os.path.basename(source), stat) as writer:
                    steps = _steps(src)
                    try:
                        for step in steps:
                            measured.update(step)
                            writer.write(step)
                    finally:
                        steps.close()  # unmaps now, not when the generator is collected
                out.flush()
                os.fsync(out.fileno())
        except (OSError, zstandard.ZstdError) as exc:
            cause = _os_error(exc)  # zstd's "Src size is incorrect" hides a failed write
            raise ArchiveError(
                f"{self.codec} compression into {partial} failed: "
                f"{cause.strerror or cause if cause is not None else exc}; the original is kept",
                path=source,
            ) from (cause or exc)
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
        return cast(BinaryIO, compressor.stream_writer(out, size=stat.st_size, closefd=False,
                                                           write_size=_STEP))


def _level(value: object, owner: str, low: int, high: int) -> int:
    level = int(number(value, "level", owner=owner, positive=False, integer=True))
    if not low <= level <= high:
        raise ConfigError(f"{owner}: option 'level' must be from {low} to {high}, got {value!r}")
    return level
