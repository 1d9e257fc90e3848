"""Build the optional C extension of the record hot path (everything else is in pyproject.toml).

``optional=True``: where it cannot be compiled (no C compiler, no Python headers), setuptools
warns and installs without it, and shoebox uses its pure-Python path (see
``shoebox_core/format/codec.py``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "shoebox_core.format._native",
            ["shoebox_core/format/_native.c"],
            optional=True,
        )
    ]
)
