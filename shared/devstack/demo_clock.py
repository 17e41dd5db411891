"""The demo's platform clock (docs/adr/0016): `make run`'s administrator starts it on the demo's day, once.

The demo programme simulates 2024 up to 30 September (services/scheduling/seed.py) and lives that history on this
clock: at the first start the clock record in the lease bucket is created so that it reads 2024-01-01 05:00 China
time, the start of the history; the seeds register the programme then, and the scheduling seed moves the clock week
by week as it files each week's reports, so that every event is recorded at its simulated time (docs/adr/0017). It
leaves the platform at 2024-09-30 05:00 (before the day's 06:00 monitoring), from where the clock runs in real time;
a later start keeps the record, so the demo's time goes on from where it was. `.run/demo.json` names it under
"clock"; hq moves it with POST /v1/clock/advance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import nats

from shared.clock import CHINA, SystemClock
from shared.names import LEASE_BUCKET, clock_key
from shared.platform_clock import PlatformClock, start_clock_at

DEMO_CLOCK_START = "2024-01-01T05:00:00+08:00"  # the start of the demo's simulated history


async def start_demo_clock(
    url: str, stream: str, start: datetime, *, user: str | None, password: str | None
) -> dict[str, Any]:
    """Create the clock record if the bucket has none (as the administrator); what demo.json says of the clock."""
    nc = await nats.connect(url, user=user, password=password)
    try:
        kv = await nc.jetstream().key_value(LEASE_BUCKET)
        await start_clock_at(kv, stream, start, datetime.now(UTC))
        clock = PlatformClock(SystemClock())
        await clock.refresh(kv, stream)
    finally:
        await nc.close()
    return {
        "simulated": True,
        "now_at_start": clock.now().astimezone(CHINA).isoformat(),  # China time
        "offset_seconds": clock.offset.total_seconds(),
        "bucket": LEASE_BUCKET,
        "key": clock_key(stream),
        "read": "GET /v1/clock",
        "advance": 'POST /v1/clock/advance (hq; {"days": n} or {"hours": n}, at most 7 days at a time)',
    }
