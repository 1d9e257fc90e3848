"""A built-in sample stream: synthetic cloud notifications, deterministic for a given seed.

Used by ``shoebox demo`` and the benchmarks, so that a newcomer needs no data and no cloud account.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator

__all__ = ["notifications"]

_EVENTS = (
    "compute.instance.create.start",
    "compute.instance.create.end",
    "compute.instance.update",
    "compute.instance.delete.start",
    "compute.instance.delete.end",
    "compute.instance.reboot.start",
    "compute.instance.exists",
    "image.upload",
    "volume.attach.end",
)


def notifications(count: int, *, seed: int = 0) -> Iterator[tuple[dict[str, str], str]]:
    """Yield ``count`` records ``(metadata, json_payload)`` shaped like OpenStack notifications."""
    rng = random.Random(seed)
    base = 1_700_000_000.0
    for index in range(count):
        event_type = rng.choice(_EVENTS)
        host = f"compute-{rng.randrange(200):04d}"
        request_id = f"req-{uuid.UUID(int=rng.getrandbits(128))}"
        instance = str(uuid.UUID(int=rng.getrandbits(128)))
        when = base + index * 0.25
        payload = {
            "event_type": event_type,
            "message_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "publisher_id": f"compute.{host}",
            "timestamp": when,
            "_context_request_id": request_id,
            "payload": {
                "instance_id": instance,
                "host": host,
                "state": rng.choice(("active", "building", "deleted", "rebooting")),
                "memory_mb": rng.choice((512, 2048, 8192)),
                "disk_gb": rng.choice((20, 40, 160)),
                "image_ref_url": f"http://images.example/{rng.getrandbits(64):016x}",
            },
        }
        metadata = {"event_type": event_type, "host": host, "request_id": request_id}
        yield metadata, json.dumps(payload, sort_keys=True)
