"""Real object-store servers on 127.0.0.1 for tests: a moto S3 server and a Swift all-in-one.

A pytest plugin: ``pytest_plugins = ["shoebox_core.testing.servers"]`` offers the fixtures
``moto_server`` / ``moto`` (:mod:`.moto`), ``swift_server`` (:mod:`.swift`), and
``dead_endpoint`` / ``frozen_endpoint`` (:mod:`.silent`: nothing listening; never answering).
Each server is a separate process started once per session and stopped by PID at its end. moto
needs ``moto[server]`` and Swift needs ``swift`` installed (the ``test`` extra of shoebox-core).
"""

from __future__ import annotations

from .moto import moto, moto_server
from .silent import dead_endpoint, frozen_endpoint
from .swift import swift_server

__all__ = ["dead_endpoint", "frozen_endpoint", "moto", "moto_server", "swift_server"]
