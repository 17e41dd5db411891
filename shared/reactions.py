"""Reactions: an event that causes a command (docs/adr/0008).

A projection can be rebuilt at any time, so it never causes anything. A reaction is a consumer group of its own
(shared.consumer: leases, epoch-fenced checkpoint, the same trust boundary) with a table `event type -> handler`.
A handler turns one event into commands whose event ids are derived from (source event id, reaction name[, scope]):
a redelivery, a restart after a crash between the command and the checkpoint, or a second replica appends nothing
twice (NATS dedupes inside its window; beyond it the command sees the id in the aggregate's record and decides that
there is nothing to do). The appended event's `causation_id` is the source event's id; the correlation id and the
trace context are carried.

A batch is verified and acted on in stream order, then its chain heads and checkpoint are committed, fenced by the
epoch. A handler's domain refusal is its answer (logged); a transient failure retries the batch; any other failure
parks that event for this reaction with the reason, and the rest flows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.catalogue import CATALOGUE
from shared.checkpoints import create_runner_tables, ensure_checkpoints, park
from shared.consumer import TRANSIENT, Batch, PartitionedConsumer
from shared.domain_errors import DomainError
from shared.envelope import Actor, Role
from shared.eventstore import Context, StoredEvent
from shared.metrics import REACTION_EVENTS
from shared.problems import Problem
from shared.telemetry import consumer_span, event_span
from shared.verification import save_heads, verify

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("tiaodu.reactions")

# Answers that mean "not now" rather than "no": too many concurrent writers, a dependency away, a read model behind.
RETRYABLE_STATUS = frozenset({409, 503, 504})
REACTION_NAMESPACE = uuid.UUID("9d3c1a52-7b8e-4f0a-a6c4-2e5b9f1d0c37")


@dataclass(frozen=True)
class Cause:
    """The event a reaction handles, and what the commands it causes must carry."""

    event: StoredEvent
    reaction: str
    actor: Actor

    @property
    def context(self) -> Context:
        env = self.event.envelope
        return Context(
            actor=self.actor,
            correlation_id=env.correlation_id,
            causation_id=str(env.id),
            trace_context=dict(env.trace_context),
        )

    def event_id(self, scope: str = "") -> uuid.UUID:
        """The id of the event this reaction appends for this cause (`scope` when it appends several)."""
        return derived_event_id(self.event.envelope.id, self.reaction, scope)


def derived_event_id(source: uuid.UUID, reaction: str, scope: str = "") -> uuid.UUID:
    return uuid.uuid5(REACTION_NAMESPACE, f"{source}|{reaction}|{scope}")


Handler = Callable[["Runtime", Cause], Awaitable[Any]]


@dataclass(frozen=True)
class Reaction:
    """`name` is the consumer group (declared in shared.catalogue.ownership); `handlers` maps event types."""

    name: str
    handlers: Mapping[str, Handler]
    # "beginning": handle the whole log on first start (work that must exist for every past event);
    # "now": only events appended after the reaction first started (work that is about the present).
    start: Literal["beginning", "now"] = "beginning"

    def __post_init__(self) -> None:
        for event_type in self.handlers:
            CATALOGUE.entry(event_type)  # refuses an unknown type at start-up, not at the first event

    @property
    def aggregate_types(self) -> list[str]:
        return sorted({CATALOGUE.entry(t).aggregate_type for t in self.handlers})


class ReactionRunner(PartitionedConsumer):
    def __init__(self, *, reaction: Reaction, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(group=reaction.name, aggregate_types=reaction.aggregate_types, **kwargs)
        self.reaction = reaction
        self.runtime = runtime
        self.actor = Actor(org_id="platform", role=Role.SYSTEM, user=f"{self.service}:{reaction.name}")

    async def setup(self) -> None:
        start = 0 if self.reaction.start == "beginning" else await self.store.last_seq()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await create_runner_tables(conn, self.schema)
            await ensure_checkpoints(conn, self.schema, self.group, self.partitions, start)

    async def process(self, batch: Batch) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            checkpoint = await self.lock_checkpoint(conn, batch.partition, batch.epoch)
            fresh = [raw for raw in batch.raws if raw.seq > checkpoint]
            if not fresh:
                return checkpoint
            checked = await verify(conn, self.schema, self.group, fresh, self.lookup_head)
        # Commands go out before the checkpoint moves: a crash in between repeats them, and derived ids make the
        # repetition append nothing.
        failed = [*checked.parked]
        by_seq = {raw.seq: raw for raw in fresh}
        with consumer_span(f"react {self.service}:{self.group}", batch.headers, first_seq=fresh[0].seq):
            for event in checked.sound:
                reason = await self._react(event)
                if reason is not None:
                    failed.append((by_seq[event.seq], reason))
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock_checkpoint(conn, batch.partition, batch.epoch)
            await save_heads(conn, self.schema, self.group, checked.heads)
            await park(conn, self.schema, self.group, failed)
            await self.save_checkpoint(conn, batch.partition, fresh[-1].seq)
        REACTION_EVENTS.labels(self.service, self.group, "handled").inc(
            len(checked.sound) - len(failed) + len(checked.parked)
        )
        REACTION_EVENTS.labels(self.service, self.group, "parked").inc(len(failed))
        self.stats.applied += len(checked.sound)
        self.stats.parked += len(failed)
        return fresh[-1].seq

    async def _react(self, event: StoredEvent) -> str | None:
        """Run the handler for one event; the reason to park it, or None."""
        env = event.envelope
        handler = self.reaction.handlers.get(env.type)
        if handler is None:
            return None
        try:
            # A child of the event's append span: the trace of the request goes on into what the reaction does.
            with event_span(f"react {self.group} {env.type}", env.trace_context, env.correlation_id, seq=event.seq):
                await handler(self.runtime, Cause(event, self.group, self.actor))
        except TRANSIENT:
            raise
        except Problem as exc:
            if exc.status in RETRYABLE_STATUS:
                raise TimeoutError(f"{exc.status} {exc.detail}") from exc
            log.info("%s: %s seq=%s refused: %s", self.group, event.envelope.type, event.seq, exc)
        except DomainError as exc:
            # The command's own answer (nothing to do, not allowed any more): a decision, not a failure.
            log.info("%s: %s seq=%s refused: %s", self.group, event.envelope.type, event.seq, exc)
        except Exception as exc:
            log.exception("%s: handler for %s seq=%s failed", self.group, event.envelope.type, event.seq)
            return f"reaction failed: {type(exc).__name__}: {exc}"
        return None


__all__ = ["Cause", "Reaction", "ReactionRunner", "derived_event_id"]
