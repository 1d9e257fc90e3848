"""Environment references whose default is itself a reference (issue 10, item 17): ``${A:-${B}}``
is expanded as a shell does, or refused with a clear error; never a directory named ``${B}``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shoebox_core.config.pipeline import load_pipeline
from shoebox_core.errors import ConfigError

CONFIG = 'directory = "{directory}"\ntemplate = "n_{{seq}}.events"\n'


def test_a_nested_default_is_expanded_and_the_writer_uses_it(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text(CONFIG.format(directory="${SB_SPOOL:-${SB_BASE}/spool}"))
    environ = {"SB_BASE": str(tmp_path)}
    assert load_pipeline(config, environ=environ).directory == f"{tmp_path}/spool"
    assert load_pipeline(config, environ={"SB_SPOOL": "/x", "SB_BASE": "/y"}).directory == "/x"
    deeper = {"directory": "${A:-${B:-${C:-deep}}}-$${A}", "template": "n_{seq}.events"}
    assert load_pipeline(deeper, environ={}).directory == "deep-${A}"
    # The whole way: `shoebox write` puts the records under the expanded directory.
    result = subprocess.run([sys.executable, "-m", "shoebox_core", "write", "-c", str(config)],
                            input='{"a": 1}\n', capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={**os.environ, **environ})
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["n_000000.events"]
    assert not any("$" in p.name for p in tmp_path.rglob("*")), "no directory named ${...}"


@pytest.mark.parametrize("value, expected", [
    ("${A:-${B}}", "environment variable B is not set"),
    ("${A:-${B}", "malformed environment reference"),
    ("${A:-x", "malformed environment reference"),
    ("${A:-${}}", "malformed environment reference"),
])
def test_a_nested_default_that_cannot_be_expanded_is_refused(value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        load_pipeline({"directory": value, "template": "n_{seq}.events"}, environ={})
    assert str(caught.value).startswith("<dict>: directory:")
