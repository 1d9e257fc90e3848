"""The core's fixtures for this plugin's tests (``shoebox_core.testing``): fake clock, plugin
manager, hook recorder, recording callback, sample data."""

pytest_plugins = ["shoebox_core.testing"]
