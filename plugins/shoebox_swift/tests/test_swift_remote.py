"""A Swift store that refuses us, cannot be reached or never answers, against the real Swift
all-in-one, a port with nothing listening and a server that accepts and never answers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from shoebox_core.errors import CallbackError, RemoteError
from shoebox_core.ship.background import ShippingEvent
from shoebox_core.testing.servers.silent import FrozenServer
from shoebox_core.write.manager import WritingRollManager

from shoebox_swift import SwiftTransfer


def config(tmp_path: Path, auth_url: str, user: str, key: str, container: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'directory = "{tmp_path / "spool"}"\ntemplate = "s_{{seq}}.events"\n\n'
        f'[[on_close]]\nplugin = "swift"\nurl = "swift://{container}/p"\n'
        f'auth_url = "{auth_url}"\nuser = "{user}"\nkey = "{key}"\n'
        'storage_options = {use_env = false}\n')
    return path


def check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    return subprocess.run([sys.executable, "-m", "shoebox_core", "config", "check", "--connect",
                           str(path)], capture_output=True, text=True, env=env, timeout=120)


def test_config_check_connect_on_swift(swift_server: Any, tmp_path: Path,
                                       dead_endpoint: str) -> None:
    container = f"shoebox-{uuid.uuid4().hex[:12]}"
    good = check(config(tmp_path, swift_server.auth_url, swift_server.user, swift_server.key,
                        container))
    assert good.returncode == 0, good.stderr
    assert f"swift://{container}/p: ok (credentials accepted" in good.stdout

    wrong = check(config(tmp_path, swift_server.auth_url, swift_server.user, "not-the-key",
                         container))
    assert wrong.returncode == 3
    assert f"swift://{container}/p: FAILED: access denied or bad credentials" in wrong.stdout

    down = check(config(tmp_path, f"{dead_endpoint}/auth/v1.0", swift_server.user,
                        swift_server.key, container))
    assert down.returncode == 3
    assert f"swift://{container}/p: FAILED: cannot connect" in down.stdout


def test_bad_credentials_are_not_retried(swift_server: Any, tmp_path: Path) -> None:
    events: list[ShippingEvent] = []
    transfer = SwiftTransfer(url=f"swift://shoebox-{uuid.uuid4().hex[:12]}/p",
                             auth_url=swift_server.auth_url, user=swift_server.user,
                             key="not-the-key", storage_options={"use_env": False})
    writer = WritingRollManager("c_{seq}.events", None, str(tmp_path), [transfer],
                                retry={"max_attempts": 5, "initial_delay": 0.01},
                                on_shipping_event=events.append)
    writer.write({}, "x")
    with pytest.raises(CallbackError, match="access denied or bad credentials"):
        writer.close()
    assert writer.closer is not None and writer.closer.stats().attempts == 1
    assert [e.kind for e in events] == ["failed"]


def test_a_frozen_swift_proxy_is_left_after_the_timeout(
    frozen_endpoint: FrozenServer, tmp_path: Path
) -> None:
    auth_url = f"{frozen_endpoint.endpoint_url}/auth/v1.0"
    transfer = SwiftTransfer(url="swift://c/p", auth_url=auth_url, user="u", key="k", timeout=1,
                             storage_options={"use_env": False})
    archive = tmp_path / "f.events"
    with WritingRollManager("f.events", None, str(tmp_path)) as writer:
        writer.write({}, "x")
    with pytest.raises(RemoteError) as caught:
        transfer.ship(str(archive))
    assert "timed out" in str(caught.value) and not caught.value.permanent
    assert frozen_endpoint.accepted == 1, "one request: swiftclient does not retry"
