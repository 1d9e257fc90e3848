"""Tests of ``shoebox_core.read``: the reading manager and inspection (``ls``, ``verify``)."""
