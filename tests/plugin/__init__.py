"""Tests of ``shoebox_core.plugin``: the plugin manager, hook specs and strategies."""
