"""Tests of ``shoebox_core.write``: the writing manager, naming, recovery, crashes and faults."""
