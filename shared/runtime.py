"""A service's connections and background work, built once by its composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from shared.aggregate_cache import AggregateCache
from shared.auth import PrincipalCache
from shared.clock import Clock
from shared.db import create_pool, ident
from shared.eventstore import EventStore, StoredEvent
from shared.leases import PartitionLeases
from shared.metrics import RuntimeMetrics
from shared.names import LEASE_BUCKET, PROJECTION_GROUP, lease_group
from shared.platform_clock import PlatformClock
from shared.projection import AfterCommit, ProjectionRunner, Raw, ReadModel
from shared.provision import ProvisioningError, StreamLayout, verify
from shared.reactions import Reaction, ReactionRunner
from shared.read_notices import NoticedCache, NoticeListener
from shared.settings import Settings, nats_servers
from shared.tasks import cancel_and_wait
from shared.timers import Timer, TimerRunner

log = logging.getLogger("tiaodu.runtime")


class CompositeReadModel:
    """A service's read model made of parts (its own tables plus identity); each part ignores foreign events."""

    def __init__(self, parts: Sequence[ReadModel]) -> None:
        self.parts = list(parts)
        self.tables = [t for part in self.parts for t in part.tables]

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        for part in self.parts:
            await part.create_tables(conn, schema)

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        for part in self.parts:
            await part.apply(conn, schema, events)


async def connect_nats(settings: Settings, name: str) -> NATS:
    return await nats.connect(
        nats_servers(settings.nats_url),
        name=name,
        user=settings.nats_user,
        password=settings.nats_password,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
    )


@dataclass
class Runtime:
    service: str
    settings: Settings
    nc: NATS
    js: JetStreamContext
    store: EventStore
    pool: asyncpg.Pool
    runner: ProjectionRunner
    clock: Clock
    cache: AggregateCache = field(default_factory=AggregateCache)
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    # What commands look up in the read model besides their aggregate, kept until the projection says it changed.
    noticed: NoticedCache = field(default_factory=NoticedCache)
    reactions: list[ReactionRunner] = field(default_factory=list)
    timers: TimerRunner | None = None
    kv: KeyValue | None = None  # the lease bucket (leases, timers, the development clock)
    metrics: RuntimeMetrics = field(init=False)  # what /metrics reads on scrape
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # The one wait in progress for the projection to reach the log's end on behalf of unknown tokens (its target).
    _unknown_token_wait: tuple[int, asyncio.Task[bool]] | None = None

    def __post_init__(self) -> None:
        self.metrics = RuntimeMetrics(self.service, self.settings.replica_id)

    @property
    def schema(self) -> str:
        return self.runner.schema

    @property
    def snapshots(self) -> tuple[asyncpg.Pool, str]:
        """Where this service's read model keeps its aggregates' snapshots (shared.time_travel.fold_as_of)."""
        return self.pool, self.schema

    @classmethod
    async def start(
        cls,
        service: str,
        settings: Settings,
        read_model: ReadModel,
        *,
        schema: str | None = None,
        after_commit: AfterCommit | None = None,
        run_projection: bool = True,
        reactions: Sequence[Reaction] = (),
        timers: Sequence[Timer] = (),
        clock: Clock | None = None,
    ) -> Runtime:
        """Connect, set up the read model, and start the projection, the reactions and the timers.

        `schema` (default: the service name) names the read model's schema and this deployment's consumers and
        leases; two runtimes with the same schema are replicas of one another.
        """
        nc = await connect_nats(settings, f"{service}:{settings.replica_id}")
        js = nc.jetstream()
        # Every service's default is the settings' clock: in development the one all processes follow (ADR 0016).
        # The store stamps each event's recorded_at from it (ADR 0017).
        clock = clock or settings.clock()
        store = EventStore(
            js,
            stream=settings.stream,
            prefix=settings.subject_prefix,
            partitions=settings.partitions,
            replicas=settings.stream_replicas,
            clock=clock,
        )
        # The administrator provisions the stream and the bucket (shared/provision.py); a service only checks.
        await verify(js, StreamLayout.of(settings))
        try:
            kv = await js.key_value(LEASE_BUCKET)
        except BucketNotFoundError:
            raise ProvisioningError(f"lease bucket {LEASE_BUCKET}", "bucket", "does not exist") from None
        pool = await create_pool(settings.database_url)
        owner = ident(schema or service)

        def consumer_parts(group: str) -> dict[str, Any]:
            leases = PartitionLeases(
                kv,
                group=lease_group(settings.stream, owner, group),
                partitions=settings.partitions,
                owner=settings.replica_id,
                ttl=settings.lease_ttl_s,
            )
            return {
                "service": owner, "schema": owner, "pool": pool, "store": store, "js": js, "leases": leases,
                "tick_interval": settings.lease_tick_s,
            }  # fmt: skip

        runner = ProjectionRunner(
            read_model=read_model,
            after_commit=after_commit,
            linger=settings.projection_linger_s,
            **consumer_parts(PROJECTION_GROUP),
        )
        await runner.setup()
        runtime = cls(service, settings, nc, js, store, pool, runner, clock)
        runtime.kv = kv
        runner.committed.append(runtime._identity_changed)
        for reaction in reactions:
            reactor = ReactionRunner(reaction=reaction, runtime=runtime, **consumer_parts(reaction.name))
            await reactor.setup()
            runtime.reactions.append(reactor)
        if isinstance(runtime.clock, PlatformClock):
            await runtime.clock.refresh(kv, settings.stream)  # before any timer or request reads it
        if timers:
            runtime.timers = TimerRunner(runtime, timers, kv=kv, clock=runtime.clock, poll_s=settings.timer_poll_s)
            if isinstance(runtime.clock, PlatformClock):  # a moved development clock makes periods due in every process
                runtime.clock.on_move.append(runtime.timers.wake)
        if run_projection and settings.runs_background:
            runtime._tasks.append(asyncio.create_task(runner.run(), name=f"{service}-projection"))
            for reactor in runtime.reactions:
                runtime._tasks.append(asyncio.create_task(reactor.run(), name=f"{service}-{reactor.group}"))
            if runtime.timers is not None:
                runtime._tasks.append(asyncio.create_task(runtime.timers.run(), name=f"{service}-timers"))
        if settings.runs_api:  # the processes that take commands keep what the projection notifies about
            listener = NoticeListener(settings.database_url, owner, runtime.noticed)
            runtime._tasks.append(asyncio.create_task(listener.run(), name=f"{service}-notices"))
        if isinstance(runtime.clock, PlatformClock):  # followed in every process, API-only ones too
            follower = runtime.clock.follow(kv, settings.stream)
            runtime._tasks.append(asyncio.create_task(follower, name=f"{service}-clock"))
        return runtime

    def run_in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """A long-running task of this service beside its projection and reactions (a service's own runner that
        the runtime does not build): `stop` ends it with the others and `ready` reports it if it died."""
        self._tasks.append(asyncio.create_task(work, name=f"{self.service}-{name}"))

    def _identity_changed(self, raws: list[Raw]) -> None:
        if any(raw.subject.split(".")[3:4] == ["organisation"] for raw in raws):
            self.principals.forget_all()  # a credential issued or revoked here counts at once

    async def caught_up_for_unknown_token(self) -> bool:
        """A token this process does not know may have been issued a moment ago in another service, or before this
        process started while its projection still catches up: wait, at most `read_wait_default_s`, until the
        projection has reached the log's end as it is now. True when it has (what the read model says of the token
        is then final); False when it still lags. Unknown tokens arriving together share one wait, so a burst of
        bad tokens costs one poll of the checkpoints, not one each."""
        last = await self.store.last_seq()
        current = self._unknown_token_wait
        if current is None or current[0] < last or current[1].done():
            wait = self.runner.wait_for(last, self.settings.read_wait_default_s)
            current = (last, asyncio.create_task(wait, name=f"{self.service}-unknown-token-wait"))
            self._unknown_token_wait = current
        return await asyncio.shield(current[1])

    async def stop(self) -> None:
        # Gracefully first: every consumer group commits the batch in hand and gives its leases back, so another
        # replica takes the share at its next tick instead of after the leases' expiry (ADR 0035).
        await asyncio.gather(*(consumer.drain() for consumer in [self.runner, *self.reactions]))
        for task in self._tasks:
            await cancel_and_wait(task, timeout=10.0)
        if self._unknown_token_wait is not None:  # its requests end with the server; the wait reads the pool
            await cancel_and_wait(self._unknown_token_wait[1], timeout=1.0)
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10)
        except TimeoutError:
            # A straggling worker (see PartitionedConsumer._stop_worker) still holds a connection: cut it.
            self.pool.terminate()
        with contextlib.suppress(Exception):
            await self.nc.drain()

    async def settled(self, timeout: float = 10.0) -> bool:
        """Wait until the projection and every reaction have used the whole log, including what reactions
        appended meanwhile (tests, and tools that want a quiet service before they look)."""
        deadline = time.monotonic() + timeout
        while True:
            last = await self.store.last_seq()
            for consumer in [self.runner, *self.reactions]:
                if not await consumer.wait_for(last, max(0.0, deadline - time.monotonic())):
                    return False
            if await self.store.last_seq() == last:
                return True

    async def parked(self) -> int:
        """Events parked by any consumer group of this service (shown on /readyz and the projection status)."""
        async with self.pool.acquire(timeout=1) as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {self.schema}._dead_letter"))

    async def ready(self) -> bool:
        if not self.nc.is_connected:
            return False
        try:
            async with self.pool.acquire(timeout=1) as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return not any(task.done() for task in self._tasks)

    async def status(self) -> dict[str, Any]:
        """The projection's and every reaction's position, parked events and consumer health."""
        return {
            **(await self.runner.lag()),
            "reactions": [await reactor.status() for reactor in self.reactions],
            "timers": [{"timer": name, "period": label} for name, label in (self.timers.runs if self.timers else [])],
        }
