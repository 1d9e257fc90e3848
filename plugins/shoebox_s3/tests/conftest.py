"""The core's fixtures for this plugin's tests: ``shoebox_core.testing`` (fake clock, plugin
manager, hook recorder, recording callback, sample data) and the S3 and Swift servers of
``shoebox_core.testing.servers``."""

pytest_plugins = ["shoebox_core.testing", "shoebox_core.testing.servers"]
