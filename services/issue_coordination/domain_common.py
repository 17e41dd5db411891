"""What the service's two aggregates (issues and 督办 orders) fold and refuse alike: the first event creates the
state, a later one is a change looked up by its payload's type and stamped with when it was recorded; a step the
status does not allow is a 409 that names the current status for people and for clients (`current_status`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.catalogue import CATALOGUE
from shared.domain_errors import Conflict
from shared.envelope import Envelope

S = TypeVar("S", bound=BaseModel)


def evolve(
    state: S | None, envelope: Envelope, payload: BaseModel | None, created: Callable[[Envelope, BaseModel], S],
    changes: Mapping[type[BaseModel], Callable[[S, Any, Envelope], dict[str, object]]], aggregate: str,
) -> S:  # fmt: skip
    """The aggregate after the envelope's event (its payload loaded from the envelope unless given): the first event
    is `created`; a later one is the change `changes` has for its payload's type (`aggregate` names the aggregate in
    the error on a type the fold does not know), stamped with when it was recorded."""
    if payload is None:
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    if state is None:
        return created(envelope, payload)
    change = changes.get(type(payload))
    if change is None:
        raise ValueError(f"cannot apply {envelope.type} to {aggregate} {envelope.aggregate_id}")
    return state.model_copy(update={**change(state, payload, envelope), "last_changed_at": envelope.recorded_at})


def status_conflict(noun: str, label: str, status: str, what: str) -> Conflict:
    """409: the `noun` (问题, 督办单) is in `status` (`label` in Chinese), which does not allow `what`."""
    return Conflict(
        f"{noun}当前状态为“{label}”({status}),不能{what}",
        field="status", reason=f"当前状态为 {status}", current_status=status,
    )  # fmt: skip


OVERDUE = 0  # the working days left of the overdue notice: its deadline has passed


def notice_key(deadline: datetime, working_days_left: int) -> str:
    """What a deadline notice is about (a deadline and its working days left, OVERDUE once it passed), the same
    however the deadline's time zone was written: what an issue or order records of the notices it was given."""
    return f"{deadline.astimezone(UTC).isoformat()}|{working_days_left}"
