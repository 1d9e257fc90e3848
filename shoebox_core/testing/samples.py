"""pytest fixtures for the shared sample data: ``shared_data`` and ``nova_records``.

The sample data (10,000 real nova notifications, stacktach-shoebox's version-1 archives) is not
shipped with the package: it lives in ``shared/data`` beside the repository, or wherever
``SHOEBOX_SHARED_DATA`` points.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

__all__ = ["find_shared_data", "nova_records", "shared_data"]


def find_shared_data(start: Path) -> Path:
    """``SHOEBOX_SHARED_DATA``, else the first ``shared/data`` beside ``start`` or one of its
    parents (pytest's rootdir is the repository's root, or a plugin's folder inside it); when
    there is none, where it belongs beside ``start``, so that the error names it."""
    override = os.environ.get("SHOEBOX_SHARED_DATA")
    if override:
        return Path(override)
    for directory in (start, *start.parents):
        candidate = directory.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return start.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data(pytestconfig: pytest.Config) -> Path:
    """The shared sample data directory (see :func:`find_shared_data`)."""
    return find_shared_data(pytestconfig.rootpath)


@pytest.fixture(scope="session")
def nova_records(shared_data: Path) -> list[tuple[dict[str, str], str]]:
    """The 10,000 nova notifications as ``(metadata, payload)``, as stacktach-shoebox wrote them."""
    records = []
    with gzip.open(shared_data / "nova-notifications.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            metadata = {
                "event": e["event_type"],
                "request_id": e["_context_request_id"] or "",
                "generated": str(e["timestamp"]),
                "uuid": e["payload"].get("instance_id") or "",
            }
            records.append((metadata, json.dumps(e, sort_keys=True)))
    assert len(records) == 10_000
    return records
