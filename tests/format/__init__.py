"""Tests of ``shoebox_core.format``: the v2 and v1 formats, fuzzed readers."""
