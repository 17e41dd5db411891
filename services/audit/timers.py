"""audit's timers (shared.timers): the periodic seal of the log, added by the seals module (docs/adr/0030). The
list is built here so that the composition root does not change when a timer is added."""

from __future__ import annotations

from shared.settings import Settings
from shared.timers import Timer


def audit_timers(settings: Settings) -> list[Timer]:
    return []
