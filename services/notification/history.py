"""notification's aggregates as the platform knew them at a moment (`as_of`, record time), folded from the log with
the service's own folds (`shared.time_travel.folded_until`, docs/adr/0031): an organisation's settings
(`subscription`), the routing rule versions (`routing_rule_set`) and an inbox with its notifications (`inbox`).

These reads are keyed by organisation (or are the one rule set), and their live answers never say "not found": an
organisation without settings has the defaults, an inbox without notifications is empty. A moment before the
aggregate's first event answers the same (as issue_coordination's calendars and rule versions do), not 404.

An inbox's notifications are rows of the read model, changed in place by what follows each request (read, tried,
delivered, failed, resent, held for a digest, gathered into one). `notification_rows` folds the inbox's events one by
one into the same rows, so every field of the live list (the delivery status and attempts too) has its value then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.notification.queries import InboxFilters
from services.notification.read_model_inbox import COLUMNS, request_row
from shared.catalogue import CATALOGUE
from shared.catalogue.notification import (
    DeliveryAttempted,
    DeliveryFailed,
    NotificationDelivered,
    NotificationRead,
    NotificationRequested,
)
from shared.catalogue.notification_delivery import DeliveryResendRequested, NotificationDigested
from shared.eventstore import StoredEvent

Row = dict[str, Any]


def version_of(events: list[StoredEvent]) -> int:
    """The aggregate's version after these events (0 before its first, as the live read says)."""
    return events[-1].envelope.version if events else 0


def notification_rows(events: Iterable[StoredEvent]) -> list[Row]:
    """An inbox's notifications after its events, newest first, each as the read model's row would have been then
    (services/notification/read_model_inbox.py applies the same changes, in batches)."""
    rows: dict[str, Row] = {}
    for event in events:
        _apply(rows, event)
    return sorted(rows.values(), key=lambda r: r["seq"], reverse=True)


def _apply(rows: dict[str, Row], event: StoredEvent) -> None:
    payload: Any = CATALOGUE.payload_of(event)
    if isinstance(payload, NotificationRequested):
        rows.setdefault(payload.notification_id, _requested(event, payload))
        for held_id in payload.digest_of:  # a digest: the notifications it gathers went out with it
            _change(rows, held_id, status="digested", digest_id=payload.notification_id)
        return
    row = rows.get(getattr(payload, "notification_id", ""))
    if row is None:
        return
    if isinstance(payload, NotificationRead):
        row["read_at"] = payload.read_at
    elif isinstance(payload, DeliveryAttempted):
        row["attempts"] += 1
    elif isinstance(payload, NotificationDelivered):
        row["status"] = "delivered"
    elif isinstance(payload, DeliveryFailed):
        row["status"] = "failed"
    elif isinstance(payload, DeliveryResendRequested):
        row["status"] = "resending"
    elif isinstance(payload, NotificationDigested):
        row.update(status="digest", digest=payload.digest.value)


def _requested(event: StoredEvent, payload: NotificationRequested) -> Row:
    row = dict(zip(COLUMNS, request_row(event, payload), strict=True))
    return {**row, "read_at": None, "status": "requested", "attempts": 0, "digest": None, "digest_id": None}


def _change(rows: dict[str, Row], notification_id: str, **changes: Any) -> None:
    if notification_id in rows:
        rows[notification_id].update(changes)


def filtered(rows: list[Row], f: InboxFilters) -> list[Row]:
    """The list's filters (queries.InboxFilters) on folded rows."""
    return [
        r
        for r in rows
        if (f.unread is None or (r["read_at"] is None) == f.unread) and (f.urgency is None or r["urgency"] == f.urgency)
    ]
