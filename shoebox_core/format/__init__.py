"""The archive format: bytes in, records out, and nothing else.

- :mod:`.v2`: the current format (file header, checksummed blocks, END block); the one pair of
  functions that pack and parse a block header lives here;
- :mod:`.v1`: stacktach-shoebox's version-1 records, read only;
- :mod:`.compressed`: recognising and decompressing ``.gz`` / ``.zst`` archives while reading;
- :mod:`.digests`: CRC-32C and MD5 digests of whole files.

``docs/FORMAT.md`` is the specification. May import only :mod:`shoebox_core.errors` and
third-party libraries: no file naming, no writer, no plugin.
"""
