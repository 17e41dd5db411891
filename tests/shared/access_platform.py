"""The four services in-process on one SimulatedClock, each with a client, and the access records read back from
the log (tests of shared.access_log and of the rebuild-diff endpoint)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from services.intake.bootstrap import create_app as create_intake
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.notification.bootstrap import create_app as create_notification
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.catalogue.access import AuditorAccessRecorded
from shared.clock import SimulatedClock
from shared.envelope import parse_envelope
from shared.eventstore import EventStore, StoredEvent
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, running, runtime_of


@dataclass
class Services:
    clients: dict[str, httpx.AsyncClient]  # by service name
    runtimes: dict[str, Runtime]
    tokens: dict[str, str]
    clock: SimulatedClock
    settings: Settings

    def h(self, org: str) -> dict[str, str]:
        return auth(self.tokens[org])

    @property
    def store(self) -> EventStore:
        return self.runtimes["intake"].store

    async def synced(self) -> None:
        last = await self.store.last_seq()
        for rt in self.runtimes.values():
            assert await rt.runner.wait_for(last, 20)


@asynccontextmanager
async def four_services(settings: Settings) -> AsyncIterator[Services]:
    clock = SimulatedClock()
    apps = {
        "intake": create_intake(dataclasses.replace(settings, replica_id="intake-1"), clock=clock),
        "scheduling": create_scheduling(
            dataclasses.replace(settings, replica_id="scheduling-1"), clock=clock, monitor=False, react=False
        ),
        "issue_coordination": create_issue_coordination(
            dataclasses.replace(settings, replica_id="issues-1"), clock=clock, escalate=False
        ),
        "notification": create_notification(dataclasses.replace(settings, replica_id="notification-1"), clock=clock),
    }
    async with AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(running(app)) for name, app in apps.items()}
        services = Services(clients, {n: runtime_of(a) for n, a in apps.items()}, {}, clock, settings)
        services.tokens = await bootstrap_orgs(services.store)
        await services.synced()
        yield services


async def log_events(store: EventStore) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    async for chunk in store.read_log(1):
        events.extend(StoredEvent(seq, subject, parse_envelope(data)) for seq, subject, data in chunk)
    return events


async def access_events(store: EventStore) -> list[StoredEvent]:
    return [e for e in await log_events(store) if e.envelope.type == "AuditorAccessRecorded"]


def record_of(event: StoredEvent) -> AuditorAccessRecorded:
    return AuditorAccessRecorded.model_validate(event.envelope.payload)
