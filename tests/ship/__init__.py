"""Tests of ``shoebox_core.ship``: callbacks, compression, the chain, journal, worker, transfer."""
