"""The core's tests, laid out as ``shoebox_core`` is: one folder per subpackage.

Tests of the library as a whole (the README snippet, the seed's integration test, the seed's
known defects, installing into a fresh venv, the benchmark's smoke run) stay at the top. The
plugin distributions carry their own tests in ``plugins/<name>/tests``.
"""
