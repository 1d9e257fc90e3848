"""Helpers of :mod:`shoebox_store.base` for the values a store is given: metadata as JSON text,
streams read in chunks (with progress), and closed afterwards as encore did."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from .events import ProgressReporter

__all__ = ["as_stream", "chunks", "closing", "dump_metadata"]

_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def dump_metadata(key: str, metadata: dict[str, Any]) -> str:
    """Metadata as JSON text (as encore wrote it); names the key when a value is not JSON."""
    try:
        return _encode(metadata)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata for key {key!r} is not JSON-serialisable: {exc}") from None


def as_stream(key: str, data: Any) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return io.BytesIO(data)
    if isinstance(data, str) or not callable(getattr(data, "read", None)):
        raise TypeError(f"data for key {key!r} must be bytes or a readable binary stream, not "
                        f"{type(data).__name__}")
    return data


class closing:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


def chunks(stream: Any, buffer_size: int, first: tuple[bytes, ...],
            progress: ProgressReporter) -> Iterator[bytes]:
    done = 0
    for chunk in first:
        done += len(chunk)
        progress(done)
        yield bytes(chunk)
    while True:
        chunk = stream.read(buffer_size)
        if not chunk:
            return
        done += len(chunk)
        progress(done)
        yield bytes(chunk)
