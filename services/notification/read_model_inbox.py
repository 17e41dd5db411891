"""The inbox's part of notification's read model: one row per inbox (its folded state: what commands load) and one
row per notification (what the inbox API lists and the live stream follows).

A notification's row is written when it is requested and changed in place by what follows it (read, delivered,
failed, held for the recipient's digest and then gathered into one); its `seq` (the stream sequence of its request)
orders an inbox and is the live stream's event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.notification.domain import InboxState, evolve_inbox
from shared.aggregate_table import AggregateTable, Row, as_columns, envelope_fold, insert_rows, of_aggregate, unnest
from shared.catalogue import CATALOGUE
from shared.catalogue.notification import (
    DeliveryAttempted,
    DeliveryFailed,
    NotificationDelivered,
    NotificationRead,
    NotificationRequested,
)
from shared.catalogue.notification_delivery import DeliveryResendRequested, NotificationDigested
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent

INBOXES = AggregateTable(
    "inboxes", "inbox", InboxState, envelope_fold(evolve_inbox), {"unread": ("int", lambda s: s.unread)}
)

COLUMNS = {
    "notification_id": "text", "org_id": "text", "seq": "bigint", "recorded_at": "timestamptz",
    "source_event_id": "text", "source_event_type": "text", "rule_id": "text", "rule_version": "int",
    "urgency": "text", "title": "text", "body": "text", "link_kind": "text", "link_id": "text", "project_id": "text",
    "person": "text",
}  # fmt: skip

DDL = """
CREATE TABLE IF NOT EXISTS {s}.notifications (
    notification_id text PRIMARY KEY, org_id text NOT NULL, seq bigint NOT NULL, recorded_at timestamptz NOT NULL,
    source_event_id text NOT NULL, source_event_type text NOT NULL, rule_id text NOT NULL, rule_version int NOT NULL,
    urgency text NOT NULL, title text NOT NULL, body text NOT NULL, link_kind text, link_id text, project_id text,
    person text, read_at timestamptz, status text NOT NULL DEFAULT 'requested', attempts int NOT NULL DEFAULT 0,
    last_channel text, last_reason text);
ALTER TABLE {s}.notifications ADD COLUMN IF NOT EXISTS digest text;
ALTER TABLE {s}.notifications ADD COLUMN IF NOT EXISTS digest_id text;
CREATE INDEX IF NOT EXISTS notifications_inbox ON {s}.notifications (org_id, seq);
CREATE INDEX IF NOT EXISTS notifications_unread ON {s}.notifications (org_id, seq) WHERE read_at IS NULL;
"""


def request_row(event: StoredEvent, p: NotificationRequested) -> Row:
    """A requested notification's columns (COLUMNS' order): the row the read model inserts, the as-of fold starts."""
    env = event.envelope
    link = p.link
    return (p.notification_id, env.aggregate_id, event.seq, env.recorded_at, p.source_event_id, p.source_event_type,
            p.rule_id, p.rule_version, p.urgency.value, p.title, p.body, link and link.kind.value, link and link.id,
            link and link.project_id, p.person)  # fmt: skip


async def _update(conn: asyncpg.Connection, schema: str, sets: str, columns: dict[str, str], rows: list[Row]) -> None:
    """One UPDATE for a batch: `sets` assigns from `u.<column>` of the rows (the first column is the id)."""
    if rows:
        await conn.execute(
            f"UPDATE {schema}.notifications n SET {sets} FROM {unnest(columns)} WHERE n.notification_id = u.id",
            *as_columns(rows, columns),
        )


class InboxReadModel:
    tables = (INBOXES.table, "notifications")

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(lock_free_when_done(INBOXES.ddl(schema) + DDL.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        mine = of_aggregate(events, "inbox")
        if not mine:
            return
        await INBOXES.apply(conn, schema, events)
        requested: list[Row] = []
        read: list[Row] = []
        # The last outcome of each notification in the batch: an UPDATE ... FROM with two rows for one notification
        # would apply an arbitrary one (a rebuild folds failed, resending and delivered in one batch).
        outcome: dict[str, Row] = {}
        held: list[Row] = []  # (notification, daily/weekly): held for the recipient's digest
        gathered: list[Row] = []  # (notification, the digest that carried it)
        attempts: dict[str, tuple[int, str]] = {}  # per notification: tries in this batch, the last channel
        for event in mine:
            payload: Any = CATALOGUE.payload_of(event)
            if isinstance(payload, NotificationRequested):
                requested.append(request_row(event, payload))
                gathered.extend((held_id, payload.notification_id) for held_id in payload.digest_of)
            elif isinstance(payload, NotificationDigested):
                held.append((payload.notification_id, payload.digest.value))
            elif isinstance(payload, NotificationRead):
                read.append((payload.notification_id, payload.read_at))
            elif isinstance(payload, NotificationDelivered):
                outcome[payload.notification_id] = (payload.notification_id, "delivered", payload.channel.value, None)
            elif isinstance(payload, DeliveryFailed):
                failed = (payload.notification_id, "failed", payload.channel.value, payload.reason)
                outcome[payload.notification_id] = failed
            elif isinstance(payload, DeliveryResendRequested):
                outcome[payload.notification_id] = (payload.notification_id, "resending", None, None)
            elif isinstance(payload, DeliveryAttempted):
                tries = attempts.get(payload.notification_id, (0, ""))[0]
                attempts[payload.notification_id] = (tries + 1, payload.channel.value)
        await insert_rows(
            conn, f"{schema}.notifications", COLUMNS, requested, on_conflict="ON CONFLICT (notification_id) DO NOTHING"
        )
        await _update(conn, schema, "read_at = u.at", {"id": "text", "at": "timestamptz"}, read)
        await _update(
            conn, schema, "attempts = n.attempts + u.tries, last_channel = u.channel",
            {"id": "text", "tries": "int", "channel": "text"}, [(k, n, c) for k, (n, c) in attempts.items()],
        )  # fmt: skip
        await _update(
            conn, schema,
            "status = u.status, last_channel = coalesce(u.channel, n.last_channel), last_reason = u.reason",
            {"id": "text", "status": "text", "channel": "text", "reason": "text"}, list(outcome.values()),
        )  # fmt: skip
        # Held before gathered: a digest is requested after what it gathers was held, also within one batch.
        await _update(conn, schema, "status = 'digest', digest = u.digest", {"id": "text", "digest": "text"}, held)
        await _update(conn, schema, "status = 'digested', digest_id = u.digest_id", {"id": "text", "digest_id": "text"},
                      gathered)  # fmt: skip
