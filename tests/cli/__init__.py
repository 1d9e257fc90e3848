"""Tests of ``shoebox_core.cli``: the ``shoebox`` command and plugins' subcommands."""
