"""The shoebox plugin of shoebox-dask, found through its ``shoebox`` entry point.

shoebox-dask adds no roll checker, namer, callback or transfer: its API is the two functions of
:mod:`shoebox_dask`. The entry point makes the distribution visible to ``shoebox plugins``.
"""

from __future__ import annotations

__all__: list[str] = []
