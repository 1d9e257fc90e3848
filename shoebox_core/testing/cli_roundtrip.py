"""A reusable test for transfer plugins: the ``shoebox`` command ships to a bucket and reads back.

``shoebox write`` runs a config whose on-close chain compresses each archive and hands it to the
transfer under test (with ``remove_local``); then ``shoebox ls``, ``cat`` and ``verify`` read the
bucket. Each command is a real subprocess, so the plugin's entry point, its options from a config
and its file system for reading are all exercised. Subclass :class:`CliRoundTripContract` in a
test module (the subclass's name must start with ``Test``) and say how to reach your store::

    from shoebox_core.testing.cli_roundtrip import CliRoundTripContract

    class TestSwiftCommandLine(CliRoundTripContract):
        plugin = "swift"

        @pytest.fixture(autouse=True)
        def _server(self, swift_server):
            self.server = swift_server

        def make_bucket(self):
            return f"swift://{new_container(self.server)}"

        def transfer_options(self):
            return {"auth_url": self.server.auth_url, "user": self.server.user,
                    "key": self.secret_reference}

        def secret(self):
            return self.server.key

The test writes the shared sample data (the ``shared_data`` fixture of
:mod:`shoebox_core.testing.samples`). The secret reaches ``shoebox write`` through the environment
only (the config says ``${SHOEBOX_TEST_SECRET}``), and no command may print it: make it a value that
cannot turn up in an output by chance (the servers of :mod:`shoebox_core.testing.servers` make one
per session).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["CliRoundTripContract"]

# The sample rolls at 4 MiB into this many archives and more.
_MIN_ARCHIVES = 5


def _toml(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value)


class CliRoundTripContract:
    """``shoebox write`` to a bucket through a config; ``ls``, ``cat`` and ``verify`` from it."""

    #: The transfer's plugin name, as the config's ``[[on_close]]`` step names it.
    plugin = ""
    #: The environment variable ``shoebox write`` takes the secret from.
    secret_variable = "SHOEBOX_TEST_SECRET"

    @property
    def secret_reference(self) -> str:
        """What :meth:`transfer_options` says in place of the secret."""
        return f"${{{self.secret_variable}}}"

    def make_bucket(self) -> str:
        """Create a new, empty bucket (or container) and return its URL, e.g. ``s3://name``."""
        raise NotImplementedError("a CliRoundTripContract subclass must define make_bucket")

    def transfer_options(self) -> dict[str, str]:
        """The transfer's options that reach the server; the secret given as
        :attr:`secret_reference`."""
        raise NotImplementedError("a CliRoundTripContract subclass must define transfer_options")

    def secret(self) -> str:
        """The secret :attr:`secret_reference` stands for, which no command may print."""
        raise NotImplementedError("a CliRoundTripContract subclass must define secret")

    def environment(self) -> dict[str, str]:
        """The environment of every command (by default this process's)."""
        return dict(os.environ)

    def read_access(self) -> tuple[list[str], dict[str, str]]:
        """Arguments (``--storage-option=...``) and environment variables with which ``shoebox
        ls``, ``cat`` and ``verify`` reach the bucket; by default none."""
        return [], {}

    # -- the pieces --------------------------------------------------------------------------

    def config_text(self, spool: Path, url: str) -> str:
        """A pipeline: size roll at 4 MiB, zstd, then the transfer to ``url`` by event type."""
        options = "".join(f"{key} = {_toml(value)}\n"
                          for key, value in self.transfer_options().items())
        return (
            f"directory = {_toml(str(spool))}\n"
            'template = "nova_%Y%m%dT%H%M%S_{seq}.events"\n\n'
            '[[roll]]\nplugin = "size"\nroll_size_mb = 4\n\n'
            '[[on_close]]\nplugin = "zstd"\n\n'
            f"[[on_close]]\nplugin = {_toml(self.plugin)}\nurl = {_toml(url)}\n"
            'template = "{event_type}/%Y/%m/%d/{name}"\n'
            "remove_local = true\n"
            f"{options}\n"
            '[input]\nfields = ["event_type"]\n'
        )

    def shoebox(self, *args: str, env: dict[str, str], text: bool = True) -> Any:
        """Run ``python -m shoebox_core ARGS`` and return the completed process."""
        return subprocess.run([sys.executable, "-m", "shoebox_core", *args], env=env,
                              capture_output=True, text=text, timeout=600)

    # -- the contract ------------------------------------------------------------------------

    def test_write_to_a_bucket_then_ls_cat_and_verify_from_it(
        self, tmp_path: Path, shared_data: Path
    ) -> None:
        secret = self.secret()
        url = f"{self.make_bucket()}/cli"
        spool = tmp_path / "spool"
        config = tmp_path / "pipeline.toml"
        config.write_text(self.config_text(spool, url))
        assert secret not in config.read_text(), "the secret must come from the environment"
        source = shared_data / "nova-notifications.jsonl.gz"
        with gzip.open(source, "rb") as f:
            lines = [line.rstrip(b"\n") for line in f if line.strip()]

        wrote = self.shoebox("write", "-c", str(config), str(source),
                             env={**self.environment(), self.secret_variable: secret})
        assert wrote.returncode == 0, wrote.stderr
        assert f"wrote {len(lines):,} records into " in wrote.stderr
        assert secret not in wrote.stdout + wrote.stderr, "shoebox write printed the secret"
        assert os.listdir(spool) == [], "every local archive removed once its copy was verified"

        arguments, variables = self.read_access()
        env = {**self.environment(), **variables}
        pattern = f"{url}/*/*/*/*/nova_*.events"
        listed = self.shoebox("ls", pattern, "--json", *arguments, env=env)
        assert listed.returncode == 0, listed.stderr
        archives = [json.loads(line) for line in listed.stdout.splitlines()]
        assert len(archives) >= _MIN_ARCHIVES, listed.stdout
        assert sum(a["records"] for a in archives) == len(lines)
        assert {(a["state"], a["compression"]) for a in archives} == {("sealed", "zstd")}

        cat = self.shoebox("cat", pattern, "--payload-only", *arguments, env=env, text=False)
        assert cat.returncode == 0, cat.stderr
        assert cat.stdout.splitlines() == lines, "the records came back changed or out of order"

        verify = self.shoebox("verify", pattern, *arguments, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert (f"{len(archives)} archives, {len(lines):,} records: every checksum is good"
                in verify.stderr)
        for result in (listed, verify):
            assert secret not in result.stdout + result.stderr
