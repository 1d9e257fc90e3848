"""The core's fixtures for plugin tests: ``fake_clock``, ``plugin_manager``, ``hook_recorder``."""

pytest_plugins = ["shoebox_core.testing"]
