"""Tests of ``shoebox_core.config``: pipeline configs and metadata selectors."""
