"""The record codec: a record to its msgpack bytes, a RECORDS block body back to its records.

This is the writer's and the reader's per-record hot path. It has two implementations with one
contract:

- the compiled one, :mod:`shoebox_core.format._native` (C, built by ``pip install`` when a
  compiler is there), which handles the common well-formed case in one call per record (one per
  batch for ``write_many``, one per block on reading), and hands anything unusual to
- the pure-Python one, the ``pure_*`` functions below, which is the reference: it accepts,
  refuses and reports exactly what ``docs/FORMAT.md`` says (records of the wrong types, repeated
  keys, extension types, unknown flag bits are damage naming the record and key).

Because the compiled path defers every unusual input (a Mapping that is not a dict, a subclass,
a lone surrogate, a damaged block...) to the pure-Python functions, the two paths write
byte-identical archives, read identical records and raise identical errors.
``tests/format/test_codec.py`` checks that with hypothesis, ``tests/format/test_conformance.py``
over every conformance vector.

The compiled path is used when the extension imports, unless the environment variable
``SHOEBOX_PURE_PYTHON`` is ``1`` when this module is first imported. :data:`NATIVE` says which
path is in use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from itertools import chain
from typing import Any, Callable

import msgpack

__all__ = [
    "NATIVE", "Record", "as_metadata", "as_payload", "decode_block", "encode_batch",
    "encode_record", "metadata_error", "new_pack", "pure_decode_block", "pure_encode_batch",
    "pure_encode_record",
]

Record = tuple[dict[str, str], "str | bytes"]
FLAG_RECORD_EXTENSIONS = 1  # v2's block flag: records may carry more than two elements

_isascii = str.isascii
# Idle packers (their bound ``pack``). A thread takes one and puts it back, so no two threads
# ever share one: a garbage collection inside pack() may run a finalizer and so let another
# thread in midway. list.pop() and list.append() are atomic.
_PACKERS: list[Callable[[Any], bytes]] = []


def new_pack() -> Callable[[Any], bytes]:
    """A fresh packer's ``pack``: str as msgpack str, bytes as bin."""
    return msgpack.Packer(use_bin_type=True).pack


# -- checks and their errors -------------------------------------------------------------------
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
    """Check a mapping other than a plain dict and copy it into one (what is encoded)."""
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


def _unencodable(metadata: dict[str, str], payload: Any, exc: UnicodeEncodeError
                 ) -> UnicodeEncodeError:
    """The same error, its reason saying which string of the record holds the lone surrogate."""
    where = "the payload"
    for key, value in metadata.items():
        if not _encodes(key):
            where = f"metadata key {key!r}"
            break
        if not _encodes(value):
            where = f"the metadata value for key {key!r}"
            break
    return UnicodeEncodeError(exc.encoding, exc.object, exc.start, exc.end,
                              f"{exc.reason} (in {where})")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- the pure-Python reference ---------------------------------------------------------------
def pure_encode_record(metadata: Any, payload: Any) -> bytes:
    """Check a record and encode it as the msgpack array ``[metadata, payload]``.

    ``metadata`` must map str to str (a Mapping other than a dict is copied into one), else
    TypeError naming the first bad key; ``payload`` is str or bytes (bytearray and memoryview are
    stored as bytes), else TypeError. A string holding a lone surrogate raises UnicodeEncodeError
    saying which key (or the payload) holds it. Nothing is kept: the bytes returned are the
    record as it was at the call.
    """
    if type(metadata) is dict:
        try:
            for key, value in metadata.items():
                _isascii(key)  # the cheapest complete check of a str: TypeError for anything else
                _isascii(value)
        except TypeError:
            raise metadata_error(metadata) from None
    else:
        metadata = as_metadata(metadata)
    kind = type(payload)
    if kind is not str and kind is not bytes:
        payload = as_payload(payload)
    try:
        pack = _PACKERS.pop()
    except IndexError:
        pack = new_pack()
    try:
        return pack((metadata, payload))
    except UnicodeEncodeError as exc:
        raise _unencodable(metadata, payload, exc) from None
    finally:
        _PACKERS.append(pack)


def pure_encode_batch(records: list[Any], limit: int) -> list[bytes] | None:
    """Check and encode ``(metadata, payload)`` pairs as :func:`pure_encode_record` does,
    without a Python call per record.

    Returns the encoded records, or None when the batch must go record by record: anything other
    than pairs of a plain dict of str and a str or bytes payload, a record that cannot be
    encoded, or one of ``limit`` bytes or more. That path then raises at the right record.
    """
    packed: list[bytes] = []
    put = packed.append
    try:
        pack = _PACKERS.pop()
    except IndexError:
        pack = new_pack()
    try:
        for metadata, payload in records:
            if type(metadata) is not dict:
                return None
            for key, value in metadata.items():
                _isascii(key)
                _isascii(value)
            kind = type(payload)
            if kind is not str and kind is not bytes:
                return None
            data = pack((metadata, payload))
            if len(data) >= limit:
                return None
            put(data)
    except (TypeError, ValueError):  # not a pair, not a str, a lone surrogate...
        return None
    finally:
        _PACKERS.append(pack)
    return packed


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed in an archive")


def _unique_map(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        keys = [key for key, _ in pairs]
        repeated = next(key for i, key in enumerate(keys) if key in keys[:i])
        raise ValueError(f"duplicate map key {repeated!r}")
    return mapping


def msgpack_type(value: Any) -> str:
    """The msgpack type name of a decoded value, for error messages."""
    names = {str: "str", bytes: "bin", int: "int", float: "float", bool: "bool",
             type(None): "nil", dict: "map", tuple: "array", list: "array"}
    return names.get(type(value), type(value).__name__)


def unpack_strict(data: Any, use_list: bool = True) -> Any:
    """Decode exactly one msgpack value, as FORMAT.md allows anywhere in an archive.

    Raises ValueError (or msgpack's and UTF-8's own errors, all subclasses of ValueError) for
    bytes after the value, a value cut short, an extension type, a map key that is not a str, a
    duplicate map key, or invalid UTF-8 in a str. Arrays come back as lists (tuples when not
    ``use_list``).
    """
    return msgpack.unpackb(data, raw=False, use_list=use_list, ext_hook=_refuse_ext,
                           strict_map_key=True, object_pairs_hook=_unique_map)


def _check_record(i: int, record: Any, flags: int) -> Record:
    if type(record) is not tuple or len(record) < 2:
        raise ValueError(f"record {i} of the block is not a [metadata, payload] array")
    if len(record) != 2 and not flags & FLAG_RECORD_EXTENSIONS:
        raise ValueError(f"record {i} of the block has {len(record)} elements but the block's "
                         "extension flag is not set")
    metadata, payload = record[0], record[1]
    if type(metadata) is not dict:
        raise ValueError(f"record {i} of the block: metadata is {msgpack_type(metadata)}, "
                         "not a map")
    for key, value in metadata.items():
        if type(key) is not str:
            raise ValueError(f"record {i} of the block: metadata key {key!r} is "
                             f"{msgpack_type(key)}, not str")
        if type(value) is not str:
            raise ValueError(f"record {i} of the block: metadata value for key {key!r} is "
                             f"{msgpack_type(value)}, not str")
    if type(payload) is not str and type(payload) is not bytes:
        raise ValueError(f"record {i} of the block: payload is {msgpack_type(payload)}, "
                         "not str or bin")
    return (metadata, payload)


def pure_decode_block(body: Any, count: int, flags: int) -> tuple[Record, ...]:
    """Decode the (decompressed) body of a RECORDS block holding ``count`` records.

    Returns a tuple of ``(metadata, payload)`` tuples; raises ValueError (msgpack's and UTF-8's
    errors are subclasses) naming the record and key on anything FORMAT.md does not allow: the
    caller reports it as damage.
    """
    if flags & ~FLAG_RECORD_EXTENSIONS:
        raise ValueError(f"unknown block flag bits {flags:#06x}")
    if not flags:
        records = _canonical_records(body, count)
        if records is not None:
            return records
    # Slow and exact: a Python check of every map's keys, and the error naming what is wrong.
    records = unpack_strict(body, use_list=False)
    if type(records) is not tuple:
        raise ValueError(f"block body is {msgpack_type(records)}, not an array of records")
    if len(records) != count:
        raise ValueError(f"block body holds {len(records)} records, its header says {count}")
    if flags & FLAG_RECORD_EXTENSIONS or not _all_well_typed(records):
        # Slow, one record at a time: drops extension elements, names the first bad record.
        return tuple([_check_record(i, record, flags) for i, record in enumerate(records)])
    return records  # type: ignore[no-any-return]


def _canonical_records(body: Any, count: int) -> tuple[Record, ...] | None:
    """The records of a block body that is exactly what shoebox's writer makes of them, else
    None (then the exact, slower path decides: damage, or a foreign writer's valid encoding).

    Decoded without a Python call per map: msgpack refuses extension types, trailing bytes,
    non-str keys and invalid UTF-8 itself, and a repeated key (which a plain decode would fold
    away) shows up by encoding the records again: a body made by msgpack's canonical encoder
    from the decoded records is the body read only when no map lost a key.
    """
    try:
        records = msgpack.unpackb(body, raw=False, use_list=False, ext_hook=_refuse_ext,
                                  strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if type(records) is not tuple or len(records) != count or not _all_well_typed(records):
        return None
    with memoryview(body) as view:
        if len(view) < 5 or view[0] != 0xDD:  # our writer's array32 prefix
            return None
        again = msgpack.packb(records, use_bin_type=True)
        head = 1 if count < 16 else 3 if count < 0x10000 else 5
        # (bytes.startswith compares with memcmp; comparing memoryviews goes item by item)
        if len(again) - head != len(view) - 5 or not again.startswith(view[5:], head):
            return None
    return records


_TUPLE, _DICT, _PAYLOAD = frozenset([tuple]), frozenset([dict]), frozenset([str, bytes])
_join = "".join


def _all_well_typed(records: tuple[Any, ...]) -> bool:
    """Every record a pair of a map of str to str and a str or bytes: checked without Python
    code per record (C-level map / zip / set over the whole block; ``str.join`` refuses
    anything but a str, the cheapest complete check of many)."""
    if (not records or set(map(type, records)) != _TUPLE
            or bytes(map(len, records)) != b"\x02" * len(records)):
        return not records
    metadata, payloads = zip(*records)
    if set(map(type, metadata)) != _DICT or not set(map(type, payloads)) <= _PAYLOAD:
        return False
    try:
        _join(chain.from_iterable(metadata))
        _join(chain.from_iterable(map(dict.values, metadata)))
    except TypeError:
        return False
    return True


# -- selection --------------------------------------------------------------------------------
def _load_native() -> Any:
    if os.environ.get("SHOEBOX_PURE_PYTHON", "") == "1":
        return None
    try:
        from . import _native
    except ImportError:  # not built (no compiler at install time): the pure-Python path
        return None
    _native.set_fallbacks(pure_encode_record, pure_encode_batch, pure_decode_block)
    return _native


_NATIVE_MODULE = _load_native()
NATIVE: bool = _NATIVE_MODULE is not None
"""True when the compiled extension is in use."""

encode_record: Callable[[Any, Any], bytes]
encode_batch: Callable[[list[Any], int], list[bytes] | None]
decode_block: Callable[[Any, int, int], tuple[Record, ...]]
if _NATIVE_MODULE is not None:
    encode_record = _NATIVE_MODULE.encode_record
    encode_batch = _NATIVE_MODULE.encode_batch
    decode_block = _NATIVE_MODULE.decode_block
else:
    encode_record = pure_encode_record
    encode_batch = pure_encode_batch
    decode_block = pure_decode_block
