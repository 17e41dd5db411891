"""A service's connections and background work, built once by its composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError

from shared.db import create_pool, ident
from shared.eventstore import EventStore, StoredEvent
from shared.leases import PartitionLeases
from shared.names import LEASE_BUCKET, PROJECTION_GROUP, lease_group
from shared.projection import AfterCommit, ProjectionRunner, ReadModel
from shared.provision import ProvisioningError, StreamLayout, verify
from shared.settings import Settings
from shared.tasks import cancel_and_wait

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
        settings.nats_url,
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
    _task: asyncio.Task[None] | None = field(default=None)

    @property
    def schema(self) -> str:
        return self.runner.schema

    @classmethod
    async def start(
        cls,
        service: str,
        settings: Settings,
        read_model: ReadModel,
        *,
        schema: str | None = None,
        after_commit: AfterCommit | None = None,
        ack_wait: float = 30.0,
        run_projection: bool = True,
    ) -> Runtime:
        nc = await connect_nats(settings, f"{service}:{settings.replica_id}")
        js = nc.jetstream()
        store = EventStore(
            js,
            stream=settings.stream,
            prefix=settings.subject_prefix,
            partitions=settings.partitions,
            replicas=settings.stream_replicas,
        )
        # The administrator provisions the stream and the bucket (shared/provision.py); a service only checks.
        await verify(js, StreamLayout.of(settings))
        try:
            bucket = await js.key_value(LEASE_BUCKET)
        except BucketNotFoundError:
            raise ProvisioningError(f"lease bucket {LEASE_BUCKET}", "bucket", "does not exist") from None
        pool = await create_pool(settings.database_url)
        leases = PartitionLeases(
            bucket,
            group=lease_group(settings.stream, schema or service, PROJECTION_GROUP),
            partitions=settings.partitions,
            owner=settings.replica_id,
            ttl=settings.lease_ttl_s,
        )
        runner = ProjectionRunner(
            service=ident(schema or service),
            read_model=read_model,
            pool=pool,
            store=store,
            js=js,
            leases=leases,
            after_commit=after_commit,
            ack_wait=ack_wait,
        )
        await runner.setup()
        runtime = cls(service, settings, nc, js, store, pool, runner)
        if run_projection:
            runtime._task = asyncio.create_task(runner.run(), name=f"{service}-projection")
        return runtime

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, timeout=10.0)
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10)
        except TimeoutError:
            # A straggling worker (see ProjectionRunner._stop_worker) still holds a connection: cut it.
            self.pool.terminate()
        with contextlib.suppress(Exception):
            await self.nc.drain()

    async def ready(self) -> bool:
        if not self.nc.is_connected:
            return False
        try:
            async with self.pool.acquire(timeout=1) as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return self._task is None or not self._task.done()
