"""Inboxes, free of I/O: one `inbox` aggregate per recipient organisation (id = its org id).

An inbox's state stays small whatever it holds: counters and the last request's time. The notifications themselves
are rows of the read model (read_model.py); a command about one notification (mark read) decides on that row,
loaded beside the inbox. Duplicates are kept out by ids: a notification's id and its event's id derive from (source
event, rule, recipient), and marking read has an id of its own per notification, so a repetition appends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.catalogue.notification import (
    DeliveryAttempted,
    DeliveryFailed,
    NotificationDelivered,
    NotificationRead,
    NotificationRequested,
)
from shared.domain_errors import NotFound
from shared.envelope import Envelope

NOTIFICATION_NAMESPACE = uuid.UUID("2f7c9a14-5e3b-4c81-9d6a-0b8e4f2a7c53")


def notification_id(source_event_id: uuid.UUID, rule_id: str, recipient: str, person: str | None = None) -> str:
    """The same source event routed by the same rule to the same recipient is one notification, however often it
    is handled."""
    # Without a person the name is the one notifications had before rules could name people: their ids stay.
    name = f"{source_event_id}|{rule_id}|{recipient}" + (f"|{person}" if person else "")
    return "ntf-" + uuid.uuid5(NOTIFICATION_NAMESPACE, name).hex


def read_event_id(notification: str) -> uuid.UUID:
    """Marking a notification read once is all there is: the second mark appends nothing."""
    return uuid.uuid5(NOTIFICATION_NAMESPACE, f"{notification}|read")


class InboxState(BaseModel):
    org_id: str
    requested: int = 0
    read: int = 0
    delivered: int = 0
    failed: int = 0
    last_requested_at: datetime | None = None

    @property
    def unread(self) -> int:
        return self.requested - self.read


class NotificationFacts(BaseModel):
    """What a command needs to know of one notification (a read-model row)."""

    notification_id: str
    org_id: str
    read: bool


def _requested(state: InboxState, env: Envelope, p: NotificationRequested) -> InboxState:
    return state.model_copy(update={"requested": state.requested + 1, "last_requested_at": env.recorded_at})


def _read(state: InboxState, env: Envelope, p: NotificationRead) -> InboxState:
    return state.model_copy(update={"read": state.read + 1})


def _delivered(state: InboxState, env: Envelope, p: NotificationDelivered) -> InboxState:
    return state.model_copy(update={"delivered": state.delivered + 1})


def _failed(state: InboxState, env: Envelope, p: DeliveryFailed) -> InboxState:
    return state.model_copy(update={"failed": state.failed + 1})


def _attempted(state: InboxState, env: Envelope, p: DeliveryAttempted) -> InboxState:
    return state


APPLIERS: Mapping[str, Callable[[InboxState, Envelope, Any], InboxState]] = {
    "NotificationRequested": _requested,
    "NotificationRead": _read,
    "NotificationDelivered": _delivered,
    "DeliveryFailed": _failed,
    "DeliveryAttempted": _attempted,
}


def evolve_inbox(state: InboxState | None, env: Envelope, payload: BaseModel | None) -> InboxState:
    current = state or InboxState(org_id=env.aggregate_id)
    applier = APPLIERS.get(env.type)
    return current if applier is None else applier(current, env, payload)


def decide_request(state: InboxState | None, request: NotificationRequested) -> NotificationRequested:
    """A new notification is always taken: duplicates are caught by its derived event id before deciding."""
    return request


def decide_read(facts: NotificationFacts | None, org_id: str, at: datetime) -> NotificationRead | None:
    """Mark read (the recipient's act); already read: nothing to do."""
    if facts is None or facts.org_id != org_id:
        raise NotFound("通知不存在", field="notification_id", reason="收件箱中没有该通知")
    if facts.read:
        return None
    return NotificationRead(notification_id=facts.notification_id, read_at=at)
