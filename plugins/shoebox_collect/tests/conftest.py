"""Fixtures of the shoebox-collect tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from shoebox_core.testing import fake_clock

__all__ = ["base", "fake_clock"]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A fresh base directory (not yet created: the Inbox makes it)."""
    return tmp_path / "base"
