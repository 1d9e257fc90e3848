"""Fixtures of shoebox-dask's tests: the data sets and a two-worker LocalCluster (see
``dask_testdata``, a module with a name of its own so that it never meets another plugin's
``conftest`` on ``sys.path``)."""

from __future__ import annotations

from dask_testdata import big, client, cluster, many  # noqa: F401 (fixtures)

pytest_plugins = ["shoebox_core.testing.servers"]
