"""The delivery engine's part of notification's read model: each notification's delivery (its folded state, what
the engine decides on) and the delivery log, one row per attempt (what `/v1/deliveries` lists and hq filters).

`deliveries` holds `delivery_state.DeliveryState` as the projection folded it with the same `evolve_delivery` the
engine's commands use; its `status` says where the current round stands (pending, delivered, failed: a dead letter,
digest). `DeliverySpec` loads one notification's delivery for a command: that row and the position of its inbox,
read in one snapshot (both are written by the same projection transaction), plus the inbox's tail of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.notification.delivery_state import APPLIERS, AttemptFact, DeliveryState, evolve_delivery, named_in
from services.notification.read_model_inbox import INBOXES
from shared.aggregate_table import Row, insert_rows, of_aggregate
from shared.catalogue import CATALOGUE
from shared.catalogue.notification import DeliveryAttempted
from shared.ddl import lock_free_when_done
from shared.eventstore import Position, StoredEvent

DDL = """
CREATE TABLE IF NOT EXISTS {s}.deliveries (
    notification_id text PRIMARY KEY, org_id text NOT NULL, status text NOT NULL, round int NOT NULL,
    attempts int NOT NULL, last_channel text, reason text, updated_at timestamptz NOT NULL, seq bigint NOT NULL,
    state jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_dead ON {s}.deliveries (updated_at, notification_id) WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS deliveries_digest ON {s}.deliveries (org_id, seq) WHERE status = 'digest';
CREATE TABLE IF NOT EXISTS {s}.delivery_attempts (
    notification_id text NOT NULL, attempt int NOT NULL, org_id text NOT NULL, round int NOT NULL,
    channel text NOT NULL, contact_point_id text, outcome text NOT NULL, status_code int, reason_code text,
    response text NOT NULL, attempted_at timestamptz NOT NULL, next_attempt_at timestamptz, seq bigint NOT NULL,
    PRIMARY KEY (notification_id, attempt));
CREATE INDEX IF NOT EXISTS delivery_attempts_at ON {s}.delivery_attempts (attempted_at, seq);
CREATE INDEX IF NOT EXISTS delivery_attempts_org ON {s}.delivery_attempts (org_id, attempted_at);
"""

DELIVERY_COLUMNS = {
    "notification_id": "text", "org_id": "text", "status": "text", "round": "int", "attempts": "int",
    "last_channel": "text", "reason": "text", "updated_at": "timestamptz", "seq": "bigint", "state": "jsonb",
}  # fmt: skip
ATTEMPT_COLUMNS = {
    "notification_id": "text", "attempt": "int", "org_id": "text", "round": "int", "channel": "text",
    "contact_point_id": "text", "outcome": "text", "status_code": "int", "reason_code": "text", "response": "text",
    "attempted_at": "timestamptz", "next_attempt_at": "timestamptz", "seq": "bigint",
}  # fmt: skip


def status_of(state: DeliveryState) -> str:
    if state.digested_in is not None:
        return "digested"
    if state.delivered_round == state.round:
        return "delivered"
    if state.failed_round == state.round:
        return "failed"
    if state.digest is not None:
        return "digest"
    return "pending"


def outcome_of(fact: AttemptFact) -> str:
    """delivered / retryable / permanent: what the log shows and filters by."""
    return fact.record.outcome.value


def _attempt_row(event: StoredEvent, state: DeliveryState, p: DeliveryAttempted) -> Row:
    fact = state.attempts[-1]
    return (p.notification_id, p.attempt, state.org_id, fact.round, p.channel.value, p.contact_point_id,
            outcome_of(fact), p.status_code, p.reason_code, p.response, event.envelope.recorded_at,
            p.next_attempt_at, event.seq)  # fmt: skip


class DeliveryReadModel:
    tables = ("deliveries", "delivery_attempts")

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(lock_free_when_done(DDL.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        mine = [e for e in of_aggregate(events, "inbox") if e.envelope.type in APPLIERS]
        if not mine:
            return
        ids = list({key for e in mine for key in named_in(CATALOGUE.payload_of(e))})
        rows = await conn.fetch(
            f"SELECT notification_id, state FROM {schema}.deliveries WHERE notification_id = ANY($1)", ids
        )
        states: dict[str, DeliveryState | None] = {
            r["notification_id"]: DeliveryState.model_validate_json(r["state"]) for r in rows
        }
        last: dict[str, StoredEvent] = {}
        attempts: list[Row] = []
        for event in mine:
            payload: Any = CATALOGUE.payload_of(event)
            for key in named_in(payload):
                state = evolve_delivery(key, states.get(key), event.envelope, payload)
                if state is None:
                    continue  # a step of a notification this inbox never requested: nothing to show
                states[key] = state
                last[key] = event
                if isinstance(payload, DeliveryAttempted):
                    attempts.append(_attempt_row(event, state, payload))
        upserts = [_delivery_row(states[key], event) for key, event in last.items() if states.get(key) is not None]
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in DELIVERY_COLUMNS if n != "notification_id")
        await insert_rows(
            conn, f"{schema}.deliveries", DELIVERY_COLUMNS, upserts,
            on_conflict=f"ON CONFLICT (notification_id) DO UPDATE SET {updates}",
        )  # fmt: skip
        await insert_rows(
            conn, f"{schema}.delivery_attempts", ATTEMPT_COLUMNS, attempts,
            on_conflict="ON CONFLICT (notification_id, attempt) DO NOTHING",
        )  # fmt: skip


def _delivery_row(state: DeliveryState | None, event: StoredEvent) -> Row:
    assert state is not None
    last = state.attempts[-1].channel.value if state.attempts else None
    return (state.notification_id, state.org_id, status_of(state), state.round, len(state.attempts), last,
            state.failed_reason if status_of(state) == "failed" else None, event.envelope.recorded_at, event.seq,
            state.model_dump_json())  # fmt: skip


class DeliverySpec:
    """One notification's delivery as an aggregate spec for shared.commands: the inbox is the aggregate (its
    expected sequence guards every append), the state is this notification's delivery."""

    def __init__(self, notification_id: str) -> None:
        self.notification_id = notification_id
        self.aggregate_type = "inbox"

    def evolve(self, state: DeliveryState | None, event: StoredEvent) -> DeliveryState:
        evolved = evolve_delivery(self.notification_id, state, event.envelope, CATALOGUE.payload_of(event))
        return evolved  # type: ignore[return-value]  # None until the request; commands treat None as "not there"

    async def load_row(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str
    ) -> tuple[DeliveryState | None, Position]:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            _, position = await INBOXES.load_row(conn, schema, aggregate_id)
            raw = await conn.fetchval(
                f"SELECT state FROM {schema}.deliveries WHERE notification_id = $1 AND org_id = $2",
                self.notification_id, aggregate_id,
            )  # fmt: skip
        return (None if raw is None else DeliveryState.model_validate_json(raw)), position
