"""to_archives: each partition of a bag or dataframe written as its own sealed archive."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

from shoebox_core.roll_manager import WritingRollManager

from ._format import COMPRESSION_SUFFIXES, GzipCallback, ZstdCallback, is_journal_file, is_url
from ._frame import PAYLOAD, frame_records

__all__ = ["DEFAULT_TEMPLATE", "archive_names", "to_archives", "write_partition"]

#: Output names: zero-padded partition numbers, so names sort in partition order.
DEFAULT_TEMPLATE = "part_{partition:05d}.events"

_COMPRESSORS = {"gzip": (GzipCallback, ".gz"), "zstd": (ZstdCallback, ".zst")}
# Writer options to_archives decides itself: one archive per partition, written in the task.
_OWN = ("roll_checker", "directory", "archive_callback", "namer", "recover", "background",
        "filename_template", "clock")


def archive_names(template: str, npartitions: int, compress: str | None = None) -> list[str]:
    """The file name of each partition's archive (with the suffix ``compress`` adds)."""
    if not isinstance(template, str) or "{partition" not in template:
        raise ValueError(f"template must contain '{{partition}}', got {template!r}")
    suffix = _COMPRESSORS[compress][1] if compress else ""
    names = [template.format(partition=i) + suffix for i in range(npartitions)]
    for name in names:
        if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
            raise ValueError(f"template gives {name!r}: a name must be a plain, visible file name")
    if len(set(names)) != len(names):
        raise ValueError(f"template {template!r} gives two partitions the same name")
    return names


def write_partition(
    records: Iterable[Any],
    target: str,
    *,
    storage_options: dict[str, Any] | None = None,
    compress: str | None = None,
    payload: str = PAYLOAD,
    writer_options: dict[str, Any] | None = None,
) -> str | None:
    """Write one partition's records as the sealed archive ``target`` (a path or fsspec URL).

    Runs on a worker: the archive is written and sealed by the core's writer in a private
    directory, then moved (local) or uploaded and checked (remote) to ``target``, replacing a
    copy an earlier attempt of the same task left. Returns ``target``, or None for an empty
    partition (no empty archives are written).
    """
    if hasattr(records, "columns") and hasattr(records, "iloc"):  # a pandas partition
        records = frame_records(records, payload)
    name = target.rstrip("/").rsplit("/", 1)[-1]
    stem = name[: -len(_COMPRESSORS[compress][1])] if compress else name
    remote = is_url(target)
    parent = None if remote else os.path.dirname(os.path.abspath(target))
    work = tempfile.mkdtemp(prefix=f".{stem}.", suffix=".tmp", dir=parent)
    try:
        callback = _COMPRESSORS[compress][0]() if compress else None
        writer = WritingRollManager(
            stem.replace("%", "%%").replace("{", "{{").replace("}", "}}"), None, work,
            callback, recover=False, background=False, flush_interval=None,
            **(writer_options or {}),
        )
        try:
            writer.write_many(_pairs(records, target))
        finally:
            writer.close()
        written = [f for f in os.listdir(work) if not is_journal_file(f)]
        if not written:
            return None
        if written != [name]:
            raise RuntimeError(f"to_archives: expected {name!r} in {work}, found {written}")
        local = os.path.join(work, name)
        if remote:
            _upload(local, target, storage_options)
        else:
            os.replace(local, target)
            _fsync_dir(os.path.dirname(os.path.abspath(target)))
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pairs(records: Iterable[Any], target: str) -> Iterable[tuple[dict[str, str], Any]]:
    for i, record in enumerate(records):
        if not isinstance(record, (tuple, list)) or len(record) != 2:
            raise TypeError(
                f"to_archives ({target}): element {i} of the partition is {type(record).__name__}"
                f" {record!r:.80}; expected a (metadata, payload) pair"
            )
        yield record[0], record[1]


def _upload(local: str, target: str, storage_options: dict[str, Any] | None) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(target, **(storage_options or {}))
    size = os.path.getsize(local)
    fs.put_file(local, path)
    fs.invalidate_cache(path)
    stored = fs.info(path).get("size")
    if stored != size:
        raise OSError(f"to_archives: {target} holds {stored} bytes after upload, sent {size}")


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _existing(url: str, names: list[str], storage_options: dict[str, Any] | None) -> list[str]:
    """The names (or their compressed / uncompressed twins) already present at ``url``."""
    if is_url(url):
        import fsspec

        fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        fs.invalidate_cache()
        try:
            present = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)}
        except (FileNotFoundError, NotADirectoryError):
            present = set()
    else:
        present = set(os.listdir(url)) if os.path.isdir(url) else set()
    clash = []
    for name in names:
        stem = next((name[: -len(s)] for s in COMPRESSION_SUFFIXES if name.endswith(s)), name)
        if present & {stem, *(stem + s for s in COMPRESSION_SUFFIXES)}:
            clash.append(name)
    return clash


def to_archives(
    collection: Any,
    url: str | os.PathLike[str],
    *,
    template: str = DEFAULT_TEMPLATE,
    storage_options: dict[str, Any] | None = None,
    compress: str | None = None,
    payload: str = PAYLOAD,
    compute: bool = True,
    scheduler: Any = None,
    **writer_options: Any,
) -> Any:
    """Write each partition of ``collection`` as its own sealed archive under ``url``.

    :param collection: a ``dask.bag`` of ``(metadata, payload)`` pairs, or a ``dask.dataframe``
        whose ``payload`` column (see ``payload``) holds the payloads and whose other columns
        are metadata fields (values written as strings, nulls left out).
    :param url: a local directory (created if missing) or an fsspec URL (``s3://bucket/out``).
    :param template: the name of partition ``i``: ``template.format(partition=i)``; the default
        ``part_{partition:05d}.events`` sorts in partition order.
    :param compress: ``"gzip"`` or ``"zstd"``: compress each sealed archive whole (the name gets
        ``.gz`` / ``.zst``), verified by the core's compressing callback.
    :param writer_options: passed to the core's
        :class:`~shoebox_core.roll_manager.WritingRollManager` (``compression="zstd"`` for
        per-block compression, ``block_records``, ``block_bytes``, ``max_record_bytes``...).
    :param compute: False returns one ``dask.delayed`` per partition instead of writing now.
    :param scheduler: passed to ``dask.compute`` (None: the current default, e.g. a Client).

    Names depend only on the partition number, so a retried task replaces its own archive and
    never adds a second one. An archive already at ``url`` is never replaced: if any name (or
    its compressed twin) exists, FileExistsError is raised before anything is written. Returns
    the paths (or URLs) written, in partition order; an empty partition writes no archive.
    """
    import dask
    from dask import delayed
    from dask.base import tokenize

    bad = sorted(set(writer_options) & set(_OWN))
    if bad:
        raise TypeError(f"to_archives decides {', '.join(bad)} itself (one archive per partition)")
    if compress is not None and compress not in _COMPRESSORS:
        raise ValueError(f"compress must be None, 'gzip' or 'zstd', got {compress!r}")
    if not hasattr(collection, "to_delayed") or not hasattr(collection, "npartitions"):
        raise TypeError(f"to_archives needs a dask bag or dataframe, got {type(collection)!r}")
    url = os.fspath(url)
    names = archive_names(template, collection.npartitions, compress)
    taken = _existing(url, names, storage_options)
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise FileExistsError(f"to_archives: {url} already holds {shown}; nothing was written")
    if is_url(url):
        import fsspec

        fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        fs.makedirs(root, exist_ok=True)
        targets = [url.rstrip("/") + "/" + n for n in names]
    else:
        os.makedirs(url, exist_ok=True)
        targets = [os.path.join(url, n) for n in names]
    token = tokenize(collection, url, template, compress, payload, writer_options)
    write = delayed(write_partition, pure=True)
    tasks = [
        write(part, target, storage_options=storage_options, compress=compress, payload=payload,
              writer_options=writer_options, dask_key_name=f"to-archives-{token}-{i}")
        for i, (part, target) in enumerate(zip(collection.to_delayed(), targets))
    ]
    if not compute:
        return tasks
    return [name for name in dask.compute(*tasks, scheduler=scheduler) if name is not None]
