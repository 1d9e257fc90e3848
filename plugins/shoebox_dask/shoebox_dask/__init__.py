"""shoebox-dask: shoebox archives as Dask bags and dataframes, and bags written back as archives.

* :func:`read_archives`: archives (local, wildcards, any fsspec URL; compressed; v1) as a
  ``dask.bag`` of ``(metadata, payload)`` or, with ``as_dataframe=True``, a ``dask.dataframe``;
  big uncompressed archives are split at block sync markers so one file spreads over every worker;
* :func:`to_archives`: each partition of a bag or dataframe written as its own sealed archive,
  named deterministically from its partition number.
"""

from __future__ import annotations

from ._read import read_archives, read_part
from ._write import to_archives

__version__ = "0.1.0"

__all__ = ["__version__", "read_archives", "read_part", "to_archives"]
