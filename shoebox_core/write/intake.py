"""Checking and encoding records on their way into an archive: the writer's hot path.

``write()`` checks and encodes a record at once, outside any lock, in one call of
:func:`shoebox_core.format.codec.encode_record` (compiled, or its pure-Python twin);
``write_many()`` does the same for a batch with one call of ``encode_batch``, and falls back to
the record-by-record path (which raises at the right record) when anything is unusual.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# native: the checks and the encoding live in format.codec (compiled, with a pure-Python twin).
from ..format.codec import _PACKERS as PACKERS
from ..format.codec import as_metadata, as_payload, encode_batch, metadata_error, new_pack

__all__ = ["BIG_RECORD", "PACKERS", "as_metadata", "as_payload", "isascii", "metadata_error",
           "new_pack", "pack_batch"]

isascii = str.isascii
# A record this long or longer skips the writer's in-memory batch and is written under the lock
# at once (so a batch never holds more than a few MiB).
BIG_RECORD = 32 * 1024


def pack_batch(records: Iterable[Any], max_bytes: int) -> list[bytes] | None:
    """Check and encode ``(metadata, payload)`` pairs as write() does, without a call per record.

    Returns the encoded records, or None when the batch must go record by record: anything other
    than pairs of a plain dict of str and a str or bytes payload, a record that cannot be
    encoded, or one of :data:`BIG_RECORD` bytes or more. That path then raises at the right record.
    """
    return encode_batch(list(records), min(max_bytes + 1, BIG_RECORD))
