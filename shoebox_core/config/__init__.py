"""Pipelines from a TOML file or a dict.

- :mod:`.pipeline`: :func:`~.pipeline.load_pipeline` and the :class:`~.pipeline.Pipeline` it
  returns; :mod:`._load` reads and checks a file, asking the plugin manager to resolve names;
- :mod:`.schema`: the config schema, every section and key, and their checks;
- :mod:`.selectors`: metadata chosen from JSON input lines (``[input] fields``);
- :mod:`.show`: the assembled pipeline as ``shoebox config check`` prints it (never a secret).

May import everything but :mod:`shoebox_core.cli`.
"""

from __future__ import annotations

from .pipeline import Pipeline, load_pipeline

__all__ = ["Pipeline", "load_pipeline"]
