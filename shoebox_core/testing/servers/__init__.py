"""Real object-store servers on 127.0.0.1 for tests: a moto S3 server and a Swift all-in-one.

A pytest plugin: ``pytest_plugins = ["shoebox_core.testing.servers"]`` offers the fixtures
``moto_server`` / ``moto`` (:mod:`.moto`) and ``swift_server`` (:mod:`.swift`). Each server is a
separate process started once per session and stopped by PID at its end. moto needs
``moto[server]`` and Swift needs ``swift`` installed (the ``test`` extra of shoebox-core).
"""

from __future__ import annotations

from .moto import moto, moto_server
from .swift import swift_server

__all__ = ["moto", "moto_server", "swift_server"]
