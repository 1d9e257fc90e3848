"""Records as pandas frames and back: one string column per metadata field, plus the payload."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd

from ._format import Record

__all__ = ["PAYLOAD", "check_columns", "frame_meta", "frame_records", "records_frame"]

#: The name of the payload column.
PAYLOAD = "payload"


def check_columns(
    columns: Sequence[str] | None, payload: bool, path_column: str | None
) -> list[str]:
    """The metadata fields asked for, checked: strings, each once, none named like the payload
    or path column."""
    if columns is None:
        raise TypeError(
            "as_dataframe=True needs columns=[...]: the metadata fields to make columns of "
            "(records are schemaless; a field a record lacks is null)"
        )
    if isinstance(columns, str):
        columns = [columns]
    names = list(columns)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"columns must be non-empty strings (metadata keys), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"columns names a field twice: {names!r}")
    reserved = ([PAYLOAD] if payload else []) + ([path_column] if path_column else [])
    clash = [n for n in names if n in reserved]
    if clash:
        raise ValueError(
            f"metadata field {clash[0]!r} would clash with the {clash[0]!r} column; "
            "read it with payload=False or another path column name"
        )
    return names


def frame_meta(columns: Sequence[str], payload: bool, path_column: str | None) -> pd.DataFrame:
    """The empty frame that tells Dask the columns and their types."""
    return records_frame([], columns, payload, path_column, "")


def records_frame(
    records: Iterable[Record],
    columns: Sequence[str],
    payload: bool,
    path_column: str | None,
    path: str,
) -> pd.DataFrame:
    """A frame of ``records``: nullable string columns, the payload (str or bytes, as written)
    as an object column. ``records`` is read once, as it comes: only the columns are kept."""
    values: list[list[Any]] = [[] for _ in columns]
    payloads: list[Any] = []
    count = 0
    if len(columns) == 1 and not payload:
        (only,) = values
        name = columns[0]
        for metadata, _ in records:
            only.append(metadata.get(name))
        count = len(only)
    else:
        keep = payloads.append if payload else None
        fields = list(zip(columns, (column.append for column in values)))
        for metadata, body in records:
            get = metadata.get
            for name, add in fields:
                add(get(name))
            if keep is not None:
                keep(body)
            count += 1
    data: dict[str, Any] = {}
    if path_column:
        data[path_column] = pd.array([path] * count, dtype="string")
    for name, column in zip(columns, values):
        data[name] = pd.array(column, dtype="string")
    if payload:
        data[PAYLOAD] = pd.Series(payloads, dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(count))


def frame_records(frame: pd.DataFrame, payload: str) -> Iterator[Record]:
    """The records of a frame: ``payload`` is the payload column, every other column a metadata
    field (values written as strings; nulls left out, so they read back as null)."""
    if payload not in frame.columns:
        raise KeyError(
            f"to_archives: the frame has no {payload!r} column for the payloads "
            f"(columns: {list(frame.columns)}); name it with payload=..."
        )
    keys = [c for c in frame.columns if c != payload]
    for name in keys:
        if not isinstance(name, str):
            raise TypeError(f"to_archives: column name {name!r} is not a string metadata key")
    payloads = frame[payload].tolist()
    values = [frame[k].tolist() for k in keys]
    for i, body in enumerate(payloads):
        if _is_null(body):
            raise ValueError(f"to_archives: row {frame.index[i]!r} has no payload")
        metadata = {}
        for key, column in zip(keys, values):
            value = column[i]
            if not _is_null(value):
                metadata[key] = value if isinstance(value, str) else str(value)
        yield metadata, body


def _is_null(value: Any) -> bool:
    if value is None or isinstance(value, (str, bytes)):
        return value is None
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list-like value: not a null
        return False
