"""read_archives: shoebox archives as a dask.bag of records or a dask.dataframe."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from shoebox_core.roll_manager import Damage

from ._format import Report, read_range, read_whole
from ._frame import check_columns, frame_meta, records_frame
from ._plan import DEFAULT_BLOCKSIZE, Part, PathLike, find_archives, plan_parts

__all__ = ["Records", "iter_part", "read_archives", "read_part"]

log = logging.getLogger("shoebox")


class Records(list):  # type: ignore[type-arg]
    """One partition's ``(metadata, payload)`` records: a list.

    A subclass only so that distributed pickles it whole when it moves between processes: a
    plain list of tuples is sent element by element, hundreds of times slower.
    """


def iter_part(part: Part, lenient: bool = False, report: Report | None = None) -> Iterator[Any]:
    """The records of one partition, in write order, as they are decoded (a block at a time).

    Runs on a worker. Strict reads raise the core's
    :class:`~shoebox_core.errors.CorruptArchive` naming the file and the byte offset; lenient
    ones pass each skipped stretch to ``report(offset, skipped_bytes, reason)``.
    """
    if part.end is None:
        return read_whole(part.source, lenient=lenient, report=report)
    return read_range(part.source, part.start, part.end, lenient=lenient, report=report)


def _reporter(path: str, damage: list[Damage] | None) -> Report:
    def report(offset: int, skipped: int, reason: str) -> None:
        log.warning("shoebox: skipped %d bytes of %s at byte %d: %s", skipped, path, offset,
                    reason)
        if damage is not None:
            damage.append(Damage(path, offset, skipped, reason))

    return report


def read_part(part: Part, lenient: bool = False) -> tuple[Records, list[Damage]]:
    """The records of one partition, in write order, and the damage a lenient read skipped."""
    damage: list[Damage] = []
    records = Records(iter_part(part, lenient, _reporter(part.path, damage)))
    return records, damage


def _lazy(part: Part, lenient: bool) -> Iterator[Any]:
    return iter_part(part, lenient, _reporter(part.path, None))


def _frame(
    part: Part,
    lenient: bool,
    fields: Sequence[str],
    payload: bool,
    path_column: str | None,
    damage: bool = False,
) -> Any:
    # Not called ``columns``: from_map would take a function with that argument for one that
    # projects columns itself.
    found: list[Damage] = []
    records = iter_part(part, lenient, _reporter(part.path, found))
    frame = records_frame(records, fields, payload, path_column, part.path)
    return (frame, found) if damage else frame


def read_archives(
    paths: PathLike | Iterable[PathLike],
    *,
    lenient: bool = False,
    blocksize: int | str | None = DEFAULT_BLOCKSIZE,
    storage_options: dict[str, Any] | None = None,
    as_dataframe: bool = False,
    columns: Sequence[str] | None = None,
    payload: bool = True,
    include_path_column: bool | str = False,
    include_in_progress: bool = False,
    with_damage: bool = False,
) -> Any:
    """Read shoebox archives as a ``dask.bag`` of ``(metadata, payload)`` records.

    :param paths: a path, a glob pattern (``"dir/*.events"``), a directory, an fsspec URL
        (``"s3://bucket/events/*.events.zst"``) or a list of them. Compressed (``.gz``,
        ``.zst``) and legacy v1 archives are read too; in-progress files are left out unless
        ``include_in_progress``.
    :param lenient: strict by default: a damaged archive raises the core's
        :class:`~shoebox_core.errors.CorruptArchive` (file and byte offset) when computed. Lenient
        reads skip damaged blocks; see ``with_damage``.
    :param blocksize: bytes per partition of an uncompressed v2 archive (an int, or a string
        such as ``"16 MiB"``): a larger archive is split into byte ranges, each reading the blocks
        that start in it, so each record is read exactly once. None: one partition per archive.
    :param storage_options: fsspec options for URLs (``s3fs`` keyword arguments for ``s3://``).
    :param as_dataframe: return a ``dask.dataframe`` instead: one nullable string column per
        metadata field in ``columns`` (a record without the field gives null) and a ``payload``
        object column (str or bytes, as written) unless ``payload=False``.
    :param include_path_column: add a column with each record's archive path (True names it
        ``path``; a string names it).
    :param with_damage: return ``(collection, damage)``, where ``damage`` is a ``dask.bag`` of
        :class:`~shoebox_core.roll_manager.Damage` (path, offset, skipped bytes, reason) filled
        by the same tasks: ``dask.compute(bag.count(), damage)`` reads each archive once.

    Partitions follow the archives sorted by path, and within an archive its byte order; inside
    a partition records keep their write order. The archives are listed now; they are read when
    the collection is computed.
    """
    import dask.bag as db
    from dask import delayed
    from dask.base import tokenize

    size = _blocksize(blocksize)
    sources = find_archives(paths, storage_options=storage_options,
                            include_in_progress=include_in_progress)
    parts = plan_parts(sources, size)
    lenient = bool(lenient)
    token = tokenize([(p.path, p.source.size, p.start, p.end) for p in parts], lenient,
                     as_dataframe, columns, payload, include_path_column)
    path_column = _path_column(include_path_column)
    if as_dataframe:
        names = check_columns(columns, payload, path_column)
        collection, damage = _dataframe(parts, lenient, names, payload, path_column, token,
                                        with_damage)
    else:
        if columns is not None or include_path_column or not payload:
            raise TypeError("columns, payload and include_path_column apply to as_dataframe=True")
        if with_damage:
            read = delayed(read_part, pure=True)
            tasks = [read(p, lenient, dask_key_name=f"read-archives-{token}-{i}")
                     for i, p in enumerate(parts)]
            collection = db.from_delayed([t[0] for t in tasks])
            damage = db.from_delayed([t[1] for t in tasks])
        else:
            collection = _lazy_bag(parts, lenient, f"read-archives-{token}")
    return (collection, damage) if with_damage else collection


def _dataframe(
    parts: list[Part],
    lenient: bool,
    columns: list[str],
    payload: bool,
    path_column: str | None,
    token: str,
    with_damage: bool,
) -> tuple[Any, Any]:
    import dask
    import dask.bag as db
    import dask.dataframe as dd
    from dask import delayed

    meta = frame_meta(columns, payload, path_column)
    # Dask would turn the object payload column into strings, and bytes payloads with it.
    with dask.config.set({"dataframe.convert-string": False}):
        if not with_damage:
            frame = dd.from_map(_frame, parts, lenient=lenient, fields=columns, payload=payload,
                                path_column=path_column, meta=meta, label="read-archives",
                                enforce_metadata=False)
            return frame, None
        read = delayed(_frame, pure=True)
        tasks = [read(p, lenient, columns, payload, path_column, True,
                      dask_key_name=f"read-archives-{token}-{i}") for i, p in enumerate(parts)]
        frame = dd.from_delayed([t[0] for t in tasks], meta=meta, verify_meta=False)
    return frame, db.from_delayed([t[1] for t in tasks])


def _lazy_bag(parts: list[Part], lenient: bool, name: str) -> Any:
    """A bag whose partitions stream: Dask's bag optimisation drops the ``reify`` (the list)
    wherever the next step runs in the same task, so a scan never holds a whole partition;
    where a partition is used twice or moved, ``reify`` makes it a list first (as Dask's own
    ``from_sequence`` and ``map`` do)."""
    from dask.bag.core import Bag, reify
    from dask.highlevelgraph import HighLevelGraph

    graph: dict[Any, Any] = {
        (name, i): (reify, (_lazy, part, lenient)) for i, part in enumerate(parts)
    }
    return Bag(HighLevelGraph.from_collections(name, graph, dependencies=()), name, len(parts))


def _blocksize(blocksize: int | str | None) -> int | None:
    if isinstance(blocksize, str):
        from dask.utils import parse_bytes

        return int(parse_bytes(blocksize))
    return blocksize


def _path_column(include: bool | str) -> str | None:
    if include is True:
        return "path"
    if not include:
        return None
    if not isinstance(include, str):
        raise TypeError(f"include_path_column must be a bool or a column name, got {include!r}")
    return include
