"""A use case is load -> decide -> append.

Loading never replays a whole history: it takes the read-model row (state and position) and folds only the
events on the aggregate's subject after that position. A lost race is caught up the same way and decided again,
unless the client pinned a version with If-Match, in which case it gets 409 with the current version.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import asyncpg
from pydantic import BaseModel

from shared.aggregate_cache import AggregateCache
from shared.auth import Principal
from shared.eventstore import ConcurrencyConflict, Context, EventStore, Position, StoredEvent, subject_token_ok
from shared.problems import Problem
from shared.runtime import Runtime

S = TypeVar("S")

IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f8f3e-8a4c-4d0e-9a7e-6f1d2c3b4a59")


def idempotent_event_id(org_id: str, key: str, scope: str) -> uuid.UUID:
    """The event id a keyed command produces: the same key from the same organisation, the same event."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{org_id}\x1f{scope}\x1f{key}")


@dataclass(frozen=True)
class CommandMeta:
    """Everything about a command that is not its content: who asks, what caused it, and the client's guards.

    A route builds the whole command (ids from the path included) and hands it with one `CommandMeta` to a
    handler `handler(rt, cmd, meta)`.
    """

    principal: Principal
    context: Context
    if_match: int | None = None
    idempotency_key: str | None = None

    def event_id(self, scope: str) -> uuid.UUID | None:
        """The event id this command appends under `scope`: derived from the Idempotency-Key when there is one."""
        if self.idempotency_key is None:
            return None
        return idempotent_event_id(self.principal.org_id, self.idempotency_key, scope)

    def new_id(self, prefix: str, scope: str) -> str:
        """A new aggregate id; derived from the Idempotency-Key so that a retried creation targets the same one."""
        if self.idempotency_key is None:
            return prefix + uuid.uuid4().hex[:20]
        return prefix + idempotent_event_id(self.principal.org_id, self.idempotency_key, scope + ":id").hex[:20]


class AggregateSpec(Protocol[S]):
    aggregate_type: str

    def evolve(self, state: S | None, event: StoredEvent) -> S: ...

    async def load_row(self, conn: asyncpg.Connection, schema: str, aggregate_id: str) -> tuple[S | None, Position]: ...


@dataclass(frozen=True)
class Outcome:
    aggregate_id: str
    version: int
    seq: int
    event_id: uuid.UUID | None
    replayed: bool = False
    appended: bool = True  # False when the decision was that there is nothing to do

    def body(self) -> dict[str, object]:
        return {"id": self.aggregate_id, "version": self.version, "seq": self.seq}


@dataclass
class Loaded(Generic[S]):
    state: S | None
    position: Position
    tail: list[StoredEvent]


async def load(
    pool: asyncpg.Pool, store: EventStore, schema: str, spec: AggregateSpec[S], aggregate_id: str
) -> Loaded[S]:
    if not subject_token_ok(aggregate_id):
        # Never let a URL segment such as '*' or '>' become a wildcard in a subject filter.
        raise Problem(404, "对象不存在", errors=[{"field": "id", "reason": "不是有效的编号"}])
    async with pool.acquire() as conn:
        state, position = await spec.load_row(conn, schema, aggregate_id)
    tail = await store.read_aggregate(spec.aggregate_type, aggregate_id, after_seq=position.last_seq)
    for event in tail:
        state = spec.evolve(state, event)
        position = position.after(event)
    return Loaded(state, position, tail)


async def already_applied(pool: asyncpg.Pool, schema: str, event_id: uuid.UUID) -> Outcome | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT aggregate_id, version, seq FROM {schema}._applied_event WHERE event_id = $1", event_id
        )
    if row is None:
        return None
    return Outcome(row["aggregate_id"], row["version"], row["seq"], event_id, replayed=True)


# A decision: the event to append, or None when there is nothing to do (the command is then answered with the
# aggregate's current position and appends nothing).
Decide = Callable[[S | None], BaseModel | None]


async def execute(
    *,
    pool: asyncpg.Pool,
    store: EventStore,
    schema: str,
    spec: AggregateSpec[S],
    aggregate_id: str,
    decide: Decide[S],
    context: Context,
    if_match: int | None = None,
    event_id: uuid.UUID | None = None,
    authorize: Callable[[S | None], Awaitable[None] | None] | None = None,
    retries: int = 8,
    cache: AggregateCache | None = None,
) -> Outcome:
    kind = spec.aggregate_type
    store.require_connected()  # no round trip: an attribute of the connection
    for attempt in range(retries):
        cached = cache.get(kind, aggregate_id) if cache is not None and attempt == 0 else None
        if cached is not None:
            if event_id is not None and (earlier := cached.recent.get(event_id)) is not None:
                return Outcome(aggregate_id, earlier.version, earlier.last_seq, event_id, replayed=True)
            loaded = Loaded(cached.state, cached.position, [])
        else:
            loaded = await load(pool, store, schema, spec, aggregate_id)
            if cache is not None:
                cache.put(kind, aggregate_id, loaded.state, loaded.position)
        if event_id is not None:
            for event in loaded.tail:  # appended by the first try but not yet projected
                if event.envelope.id == event_id:
                    return Outcome(aggregate_id, event.envelope.version, event.seq, event_id, replayed=True)
            # Checked after the load: the projection commits rows and applied ids together, so whatever the
            # loaded row contains is in this table by now.
            if (done := await already_applied(pool, schema, event_id)) is not None:
                return done
        if if_match is not None and if_match != loaded.position.version and cached is not None:
            continue  # the cache may be behind the client: look at the log before answering 412
        if authorize is not None:
            pending = authorize(loaded.state)
            if pending is not None:
                await pending
        if if_match is not None and if_match != loaded.position.version:
            raise Problem(
                412,
                f"If-Match 版本 {if_match} 与当前版本 {loaded.position.version} 不一致",
                errors=[{"field": "If-Match", "reason": f"当前版本为 {loaded.position.version}"}],
                current_version=loaded.position.version,
            )
        payload = decide(loaded.state)
        if payload is None:
            position = loaded.position
            return Outcome(aggregate_id, position.version, position.last_seq, None, appended=False)
        try:
            stored = await store.append(
                kind, aggregate_id, payload, expected=loaded.position, context=context, event_id=event_id
            )
        except ConcurrencyConflict:
            if cache is not None:
                cache.drop(kind, aggregate_id)
            if if_match is not None:  # the state decided on was the client's version: a lost race
                current = await load(pool, store, schema, spec, aggregate_id)
                if event_id is not None and any(e.envelope.id == event_id for e in current.tail):
                    continue  # our own retry won: the next round answers from the tail
                raise Problem(
                    409,
                    f"版本 {if_match} 已被其他请求更新,当前版本为 {current.position.version}",
                    errors=[{"field": "If-Match", "reason": f"当前版本为 {current.position.version}"}],
                    current_version=current.position.version,
                ) from None
            continue
        if cache is not None:
            if stored.duplicate:
                cache.drop(kind, aggregate_id)  # answered from an earlier append: where it stands is not known here
            else:
                after = loaded.position.after(stored)
                cache.put(kind, aggregate_id, spec.evolve(loaded.state, stored), after, stored.envelope.id)
        return Outcome(aggregate_id, stored.envelope.version, stored.seq, stored.envelope.id, stored.duplicate)
    raise Problem(409, "并发写入过多,请稍后重试", current_version=None)


async def handle(
    rt: Runtime,
    spec: AggregateSpec[S],
    aggregate_id: str,
    decide: Decide[S],
    meta: CommandMeta,
    *,
    scope: str,
    authorize: Callable[[S | None], Awaitable[None] | None] | None = None,
) -> Outcome:
    """The one shape of a use case: load `aggregate_id`, decide, append, guarded by the meta's If-Match and
    Idempotency-Key. `scope` names the use case (and object) so that one key used for two commands yields two ids."""
    return await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=spec,
        aggregate_id=aggregate_id,
        decide=decide,
        context=meta.context,
        if_match=meta.if_match,
        event_id=meta.event_id(scope),
        authorize=authorize,
        cache=rt.cache,
    )
