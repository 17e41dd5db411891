"""scheduling's HTTP API for the weekly cadence (一周一调度): who has not reported a week (included by `api.router`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.scheduling.deps import ID_PATTERN, ClockDep
from services.scheduling.missing_reports import missing_reports
from services.scheduling.policies import visibility
from services.scheduling.reporting_cadence import IsoWeek
from services.scheduling.responses_lights import MissingReportsPage
from shared.clock import today
from shared.domain_errors import invalid
from shared.web import MinSeqDep, PrincipalDep, RuntimeDep

router = APIRouter()


@router.get(
    "/reporting/missing", tags=["reporting"], dependencies=[MinSeqDep],
    summary="本周未报:某 ISO 周过截止时间未填报(或逾期补报、截止前尚未填报)的项目及责任单位",
)  # fmt: skip
async def list_missing_reports(
    rt: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    week: Annotated[
        str | None, Query(pattern=r"^[0-9]{4}-W[0-9]{2}$", description="ISO 周,如 2026-W48;默认本周")
    ] = None,
    programme_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="每页条数")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="跳过条数")] = 0,
) -> MissingReportsPage:
    """hq, supervision and auditors see every project; a unit its own; a leader those it sponsors."""
    try:
        chosen = IsoWeek.of(today(clock)) if week is None else IsoWeek.parse(week)
    except ValueError as exc:
        raise invalid("week", str(exc)) from None
    own_unit, own_leader = visibility(principal)
    async with rt.pool.acquire() as conn:
        found = await missing_reports(
            conn, rt.schema, chosen, now=clock.now(), programme_id=programme_id, unit_id=own_unit,
            sponsor_id=own_leader,
        )  # fmt: skip
    items = [
        {"project_id": m.project_id, "project_name": m.project_name, "programme_id": m.programme_id,
         "category": m.category, "unit_id": m.unit_id, "unit_name": m.unit_name,
         "sponsor_leader_id": m.sponsor_leader_id, "status": m.status.value,
         "recorded_at": m.recorded_at.isoformat() if m.recorded_at else None, "last_period_end": m.last_period_end}
        for m in found.projects
    ]  # fmt: skip
    return MissingReportsPage.model_validate({
        "items": items[offset : offset + limit], "total": len(items), "limit": limit, "offset": offset,
        "week": found.week.label(), "deadline": found.deadline.isoformat(), "deadline_passed": found.deadline_passed,
        "rule_version": found.rule_version,
        "units": [{"unit_id": u.unit_id, "unit_name": u.unit_name, "projects": u.projects,
                   "not_reported": u.not_reported} for u in found.units()],
    })  # fmt: skip
