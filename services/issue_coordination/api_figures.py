"""`/v1/issue-figures`: the issue figures of a lead unit (or of all) for a period (figures.py computes them)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.issue_coordination.api import ID_PATTERN
from services.issue_coordination.domain import IssueState
from services.issue_coordination.figures import IssueFigures, Period, issue_figures, open_counted_at, parse_period
from services.issue_coordination.figures_standing import STEP_TYPES, Standing, standings
from services.issue_coordination.policies import READ_ALL
from services.issue_coordination.read_model_rules import rule_data
from shared.auth import Principal
from shared.domain_errors import Forbidden
from shared.envelope import Role
from shared.runtime import Runtime
from shared.web import MinSeqDep, PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["issues"])


class IssueFiguresView(BaseModel):
    unit_id: str | None = Field(description="首接负责单位编号(空为全部单位)")
    date_from: date = Field(description="统计期间首日(含)")
    date_to: date = Field(description="统计期间末日(含)")
    resolved: int = Field(description="期间内办结的问题数(最近一次办结在期间内,且未被退回重办)")
    resolved_on_time: int = Field(description="其中在办理期限内办结的")
    on_time_rate: Decimal | None = Field(description="按时办结率(0-1,四位小数;无办结为空)")
    mean_working_days_to_resolve: Decimal | None = Field(description="从提出到办结的平均工作日数")
    p90_working_days_to_resolve: int | None = Field(description="从提出到办结工作日数的第 90 百分位(最近秩)")
    reopened: int = Field(description="办结问题中曾被退回重办的")
    reopen_rate: Decimal | None = Field(description="退回重办率(0-1)")
    confirmed: int = Field(description="期间内确认办结的问题数")
    mean_rating: Decimal | None = Field(description="满意度(期间内确认时评分的平均值,1-5)")
    open_counted_at: datetime = Field(
        description="在办与超期数的统计时刻:统计期间末日结束时(北京时间次日 0 时);期间尚未结束时为当前时刻"
    )
    open_total: int = Field(
        description="统计时刻(open_counted_at)办理中(已交办、已受理)的问题数,按其当时的首接负责单位归属"
    )
    overdue_total: int = Field(description="统计时刻已超期的问题数(办理中,且当时已知的办理期限早于统计时刻)")
    open_by_category: dict[str, int] = Field(description="统计时刻办理中问题数,按类别")
    overdue_by_category: dict[str, int] = Field(description="统计时刻超期问题数,按类别")
    open_by_level: dict[str, int] = Field(description="统计时刻办理中问题数,按其当时所在层级")
    overdue_by_level: dict[str, int] = Field(description="统计时刻超期问题数,按其当时所在层级")


def may_read_figures(principal: Principal, unit_id: str | None) -> None:
    """hq, supervision and auditors read every unit's figures; a unit its own."""
    if principal.role in READ_ALL or (principal.role == Role.UNIT and unit_id == principal.org_id):
        return
    raise Forbidden("无权查看该单位的问题统计", field="unit_id", reason="只能查看本单位的统计")


async def issues_of(db: asyncpg.Pool | asyncpg.Connection, schema: str, unit_id: str | None) -> list[IssueState]:
    rows = await db.fetch(
        f"SELECT state FROM {schema}.issues WHERE $1::text IS NULL OR lead_unit_id = $1 ORDER BY id", unit_id
    )
    return [IssueState.model_validate_json(r["state"]) for r in rows]


async def standing_of(
    db: asyncpg.Pool | asyncpg.Connection, schema: str, unit_id: str | None, before: datetime
) -> list[Standing]:
    """Every issue as its steps recorded before `before` left it, of `unit_id` as lead unit then (all if None)."""
    rows = await db.fetch(
        f"SELECT issue_id, type, payload::text AS payload FROM {schema}.issue_timeline"
        " WHERE recorded_at < $1 AND type = ANY($2::text[]) ORDER BY issue_id, seq",
        before, STEP_TYPES,
    )  # fmt: skip
    return [s for s in standings(rows) if unit_id is None or s.lead_unit_id == unit_id]


async def figures_in(rt: Runtime, schema: str, unit_id: str | None, period: Period) -> IssueFigures:
    """The figures as the read model in `schema` has them (a rebuilt schema answers the same)."""
    calendars = (await rule_data(rt.pool, rt.store, schema)).calendars
    now = rt.clock.now()
    counted_at = open_counted_at(period, now)
    # Steps recorded before the end of the period; while it runs, every step recorded up to now.
    before = counted_at if counted_at < now else now + timedelta(microseconds=1)
    standing = await standing_of(rt.pool, schema, unit_id, before)
    return issue_figures(await issues_of(rt.pool, schema, unit_id), standing, period, now, calendars)


@router.get("/issue-figures", summary="问题办理统计(按时办结率、办结用时、退回重办率、满意度、在办与超期数)",
            dependencies=[MinSeqDep])  # fmt: skip
async def get_issue_figures(
    rt: RuntimeDep,
    principal: PrincipalDep,
    unit_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="首接负责单位编号(单位只能查本单位)")] = None,
    period: Annotated[str | None, Query(description="统计期间:2024-05(月)、2024-Q2(季度)、2024(年)")] = None,
    date_from: Annotated[date | None, Query(description="统计期间首日(与 date_to 一起,代替 period)")] = None,
    date_to: Annotated[date | None, Query(description="统计期间末日(含)")] = None,
) -> IssueFiguresView:
    if principal.role == Role.UNIT and unit_id is None:
        unit_id = principal.org_id
    may_read_figures(principal, unit_id)
    span = parse_period(period, date_from, date_to)
    figures = await figures_in(rt, rt.schema, unit_id, span)
    return IssueFiguresView(unit_id=unit_id, date_from=span.first, date_to=span.last, **vars(figures))
