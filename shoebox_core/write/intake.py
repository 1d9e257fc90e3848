"""Checking and encoding records on their way into an archive: the writer's hot path.

``write()`` checks a record with a short Python loop (``str.isascii`` is the cheapest complete check
of a str: it raises TypeError for anything else) and encodes it with msgpack at once, outside any
lock. ``write_many()`` does the same for a batch in one loop, without a call per record, and
falls back to the record-by-record path (which raises at the right record) when anything is
unusual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Callable

import msgpack

__all__ = ["BIG_RECORD", "PACKERS", "as_metadata", "as_payload", "isascii", "metadata_error",
           "new_pack", "pack_batch"]

isascii = str.isascii
# A record this long or longer skips the writer's in-memory batch and is written under the lock
# at once (so a batch never holds more than a few MiB).
BIG_RECORD = 32 * 1024
# Idle packers (their bound ``pack``). A writing thread takes one and puts it back, so no two
# threads ever share one: a garbage collection inside pack() may run a finalizer and so let
# another thread in midway. list.pop() and list.append() are atomic.
PACKERS: list[Callable[[Any], bytes]] = []


def new_pack() -> Callable[[Any], bytes]:
    """A fresh packer's ``pack``: str as msgpack str, bytes as bin."""
    return msgpack.Packer(use_bin_type=True).pack


def metadata_error(metadata: Any) -> TypeError:
    """The error for metadata that is not a mapping of str to str, naming the first bad key."""
    if not isinstance(metadata, Mapping):
        return TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str):
            return TypeError(f"metadata key {key!r} is {type(key).__name__}, not str")
        if not isinstance(value, str):
            return TypeError(
                f"metadata value for key {key!r} is {type(value).__name__}, not str: {value!r:.60}"
            )
    return TypeError("metadata must be a dict of str to str")


def as_metadata(metadata: Any) -> dict[str, str]:
    """Check a mapping other than a plain dict and copy it into one (what msgpack encodes)."""
    if not isinstance(metadata, Mapping):
        raise metadata_error(metadata)
    plain = dict(metadata)
    for key, value in plain.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise metadata_error(plain)
    return plain


def as_payload(payload: Any) -> str | bytes:
    """A payload that is not exactly str or bytes: a subclass, or bytes-like (stored as bytes)."""
    if isinstance(payload, (str, bytes)):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise TypeError(f"payload must be str or bytes, got {type(payload).__name__}")


def pack_batch(records: Iterable[Any], max_bytes: int) -> list[bytes] | None:
    """Check and encode ``(metadata, payload)`` pairs as write() does, without a call per record.

    Returns the encoded records, or None when the batch must go record by record: anything other
    than pairs of a plain dict of str and a str or bytes payload, a record msgpack refuses, or one
    of :data:`BIG_RECORD` bytes or more. That path then raises at the right record.
    """
    big = min(max_bytes + 1, BIG_RECORD)
    packed: list[bytes] = []
    put = packed.append
    try:
        pack = PACKERS.pop()
    except IndexError:
        pack = new_pack()
    try:
        for metadata, payload in records:
            if type(metadata) is not dict:
                return None
            for key, value in metadata.items():
                isascii(key)
                isascii(value)
            kind = type(payload)
            if kind is not str and kind is not bytes:
                return None
            data = pack((metadata, payload))
            if len(data) >= big:
                return None
            put(data)
    except (TypeError, ValueError):  # not a pair, not a str, a lone surrogate...
        return None
    finally:
        PACKERS.append(pack)
    return packed
