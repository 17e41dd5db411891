"""JSON records in a JetStream key-value bucket, written by compare-and-set (leases, members, timers)."""

from __future__ import annotations

import json
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue


async def read_record(kv: KeyValue, key: str) -> tuple[dict[str, Any] | None, int | None]:
    """The record and its revision; (None, None) when the key was never written."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None, None
    return (json.loads(entry.value) if entry.value else None), entry.revision


async def write_record(kv: KeyValue, key: str, record: dict[str, Any], revision: int | None) -> int | None:
    """Create when `revision` is None, update otherwise; the new revision, or None when someone else wrote first."""
    data = json.dumps(record).encode()
    try:
        if revision is None:
            return int(await kv.create(key, data))
        return int(await kv.update(key, data, last=revision))
    except KeyWrongLastSequenceError:
        return None
