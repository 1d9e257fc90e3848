"""Size and checksums of a local file, measured in one pass, for verifying remote copies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import crc32c as _crc32c

__all__ = ["CHUNK", "LocalDigest", "digest_file"]

CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalDigest:
    """Size and checksums of a local file, measured in one pass.

    ``part_md5s`` are the MD5 digests of consecutive ``part_size`` slices (for an S3 multipart
    ETag), empty when no part size was asked for.
    """

    size: int
    md5: str
    crc32c: int
    part_size: int | None = None
    part_md5s: tuple[bytes, ...] = ()

    def multipart_etag(self) -> str | None:
        """The ETag S3 gives a multipart upload of ``part_size`` parts (``"<md5>-N"``)."""
        if not self.part_md5s:
            return None
        joined = hashlib.md5(b"".join(self.part_md5s), usedforsecurity=False).hexdigest()
        return f"{joined}-{len(self.part_md5s)}"


def digest_file(path: str, part_size: int | None = None) -> LocalDigest:
    """Measure ``path``: size, MD5, CRC32C and, with ``part_size``, each part's MD5."""
    whole = hashlib.md5(usedforsecurity=False)
    crc = 0
    size = 0
    parts: list[bytes] = []
    part = hashlib.md5(usedforsecurity=False)
    in_part = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            whole.update(chunk)
            crc = _crc32c.crc32c(chunk, crc)
            size += len(chunk)
            if part_size:
                view = memoryview(chunk)
                while view:
                    take = min(len(view), part_size - in_part)
                    part.update(view[:take])
                    in_part += take
                    view = view[take:]
                    if in_part == part_size:
                        parts.append(part.digest())
                        part = hashlib.md5(usedforsecurity=False)
                        in_part = 0
    if part_size and in_part:
        parts.append(part.digest())
    return LocalDigest(size, whole.hexdigest(), crc, part_size, tuple(parts))
