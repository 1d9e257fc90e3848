"""The benchmark's data: built in memory before anything is timed, the same list for everyone.

``small``: synthetic events, ~200-byte JSON payloads, three metadata keys (``event_type``,
``host``, ``request_id``). ``nova``: the OpenStack notifications of the shared sample file
(~2.9 KB each, four metadata keys, as stacktach-shoebox archived them), cycled to the count asked.
Both are deterministic, so two runs (or two machines) time the same bytes.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NOVA_SOURCE", "Record", "nova_path", "nova_records", "small_records"]

Record = tuple[dict[str, str], str]

REPO = Path(__file__).resolve().parents[1]
NOVA_SOURCE = "nova-notifications.jsonl.gz"

_EVENTS = (
    "compute.instance.create.start",
    "compute.instance.create.end",
    "compute.instance.update",
    "compute.instance.delete.end",
    "compute.instance.exists",
    "image.upload",
    "volume.attach.end",
)
_STATES = ("active", "building", "deleted", "rebooting", "resized")
_HOSTS = tuple(f"compute-{n:04d}" for n in range(500))


def small_records(count: int, *, seed: int = 7) -> Iterator[Record]:
    """Yield ``count`` records of ~200-byte JSON payloads with three metadata keys.

    A generator, so the memory benchmark can stream it without holding the records; every record
    gets its own metadata dict and its own strings, as a live producer would create them.
    """
    rng = random.Random(seed)
    getrandbits = rng.getrandbits
    randrange = rng.randrange
    for index in range(count):
        event_type = _EVENTS[randrange(len(_EVENTS))]
        host = _HOSTS[randrange(len(_HOSTS))]
        request_id = f"req-{getrandbits(128):032x}"
        payload = (
            f'{{"event_type": "{event_type}", "host": "{host}", "request_id": "{request_id}", '
            f'"seq": {index}, "ts": {1_700_000_000 + index * 0.25:.2f}, '
            f'"state": "{_STATES[randrange(len(_STATES))]}", "memory_mb": {512 << randrange(5)}}}'
        )
        yield {"event_type": event_type, "host": host, "request_id": request_id}, payload


def nova_path(explicit: str | None = None) -> Path:
    """Where the nova sample is: ``explicit``, else ``$SHOEBOX_SHARED_DATA``, else the
    ``shared/data`` directory next to the repository."""
    if explicit:
        return Path(explicit)
    base = os.environ.get("SHOEBOX_SHARED_DATA")
    directory = Path(base) if base else REPO.parent / "shared" / "data"
    return directory / NOVA_SOURCE


def nova_records(count: int, path: Path) -> list[Record]:
    """``count`` nova notifications, cycling through the sample file.

    The payload is the notification's JSON line as shipped; the metadata are the four keys
    stacktach-shoebox's users stored (``event``, ``request_id``, ``generated``, ``uuid``).
    """
    distinct: list[Record] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            metadata = {
                "event": event["event_type"],
                "request_id": event["_context_request_id"] or "",
                "generated": str(event["timestamp"]),
                "uuid": event["payload"].get("instance_id") or "",
            }
            distinct.append((metadata, line.rstrip("\n")))
    if not distinct:
        raise ValueError(f"{path} holds no notifications")
    return [distinct[index % len(distinct)] for index in range(count)]
