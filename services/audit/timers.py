"""audit's timers (shared.timers): the periodic seal of the log (docs/adr/0030). The list is built here so that the
composition root does not change when a timer is added.

The seal runs on `TIAODU_SCHEDULE_AUDIT_SEAL` (default every 5 minutes, shared/settings.py), once per period across
replicas: the timer's lease picks one replica, and a period already sealed (its label is the seal's `trigger`) is
never sealed again. Only the due period runs after an outage: one seal covers everything since the last.
"""

from __future__ import annotations

from services.audit.seal_keeper import SealKeeper
from services.audit.sealing import seal
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

SEAL_TIMER = "audit_seal"


def audit_timers(settings: Settings, keeper: SealKeeper) -> list[Timer]:
    async def seal_period(rt: Runtime, period: Period) -> None:
        await seal(await keeper.sealer(rt), trigger=f"timer:{period.label}")

    return [Timer(SEAL_TIMER, settings.schedule(SEAL_TIMER), seal_period, catch_up=1, reads_model=False)]
