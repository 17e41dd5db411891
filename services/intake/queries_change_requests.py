"""SQL reads of change requests (变更申请): hq's queue, a project's requests, one request, and a filing's start."""

from __future__ import annotations

from typing import Any

from services.intake.domain_change_requests import ChangeRequestState
from services.intake.queries import Db, filtered_page
from shared.catalogue.intake import ChangeRequestKind


def change_request_public(state: ChangeRequestState, version: int) -> dict[str, Any]:
    body = state.model_dump(mode="json", exclude={"filed_event_id"})
    body["version"] = version
    return body


async def get_change_request(db: Db, schema: str, change_request_id: str) -> tuple[ChangeRequestState, int] | None:
    row = await db.fetchrow(f"SELECT state, version FROM {schema}.change_requests WHERE id = $1", change_request_id)
    if row is None:
        return None
    return ChangeRequestState.model_validate_json(row["state"]), int(row["version"])


async def list_change_requests(
    db: Db, schema: str, *, filters: dict[str, str | None], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Requests matching every given filter (column = value), oldest filing first: a queue is worked in order."""
    rows, total = await filtered_page(
        db, f"{schema}.change_requests", filters=filters, order_by="filed_at, id", limit=limit, offset=offset
    )
    return [
        change_request_public(ChangeRequestState.model_validate_json(r["state"]), r["version"]) for r in rows
    ], total


async def filed_count(db: Db, schema: str, project_id: str, kind: ChangeRequestKind) -> int:
    """How many requests of a kind the read model shows for a project: where a filing starts looking for its slot
    (the read model may lag, never lead, so no slot before the last it shows can be free)."""
    count = await db.fetchval(
        f"SELECT count(*) FROM {schema}.change_requests WHERE project_id = $1 AND kind = $2", project_id, kind.value
    )
    return int(count)
