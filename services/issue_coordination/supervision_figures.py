"""Supervision orders' own figures (督办统计) per target unit and period (a month `2024-06` or an ISO week
`2024-W23`, China time): orders issued in the period, closed in it on time or late, overdue at its end (open then,
past their deadline), reminders sent in it. Every figure is counted from recorded facts only (the envelopes'
`recorded_at` folded into the order table and the order timeline), so it is reproducible from the log and equal
after a rebuild; a period still running is counted as of the platform's now."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.issue_coordination.supervision import OrderState
from shared.clock import CHINA
from shared.domain_errors import Forbidden, invalid
from shared.envelope import Role
from shared.paging import Page, PagingDep
from shared.web import MinSeqDep, PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["supervision-orders"])
PERIOD = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2]|W(0[1-9]|[1-4][0-9]|5[0-3]))$"


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a month or an ISO week, midnight China time."""
    if (week := re.fullmatch(r"([0-9]{4})-W([0-9]{2})", period)) is not None:
        try:
            first = date.fromisocalendar(int(week[1]), int(week[2]), 1)
        except ValueError:
            raise invalid("period", "该年没有这一周") from None
        last = first + timedelta(days=7)
    else:
        year, month = map(int, period.split("-"))
        first, last = date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    return (datetime(first.year, first.month, first.day, tzinfo=CHINA),
            datetime(last.year, last.month, last.day, tzinfo=CHINA))  # fmt: skip


class UnitFigures(BaseModel):
    unit_id: str = Field(description="督办对象单位")
    issued: int = Field(description="本期下达的督办单数")
    closed_on_time: int = Field(description="本期按期办结数(办结时间不晚于期限)")
    closed_late: int = Field(description="本期逾期办结数")
    overdue: int = Field(description="期末(或当前)超期未办结数")
    open: int = Field(description="期末(或当前)未办结数")
    reminders_sent: int = Field(description="本期催办次数(人工与自动)")


def unit_figures(
    orders: list[OrderState], reminders: dict[str, int], start: datetime, end: datetime
) -> list[UnitFigures]:
    """The figures of each unit from its orders (issued before `end`) and its reminders counted in the period."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in orders:
        c = counts[o.target_unit_id]
        if start <= o.issued_at < end:
            c["issued"] += 1
        if o.closed_at is not None and start <= o.closed_at < end:
            c["closed_on_time" if o.closed_on_time() else "closed_late"] += 1
        open_at_end = o.issued_at < end and (o.closed_at is None or o.closed_at >= end)
        c["open"] += open_at_end
        c["overdue"] += open_at_end and o.deadline < end
    for unit, n in reminders.items():
        counts[unit]["reminders_sent"] += n
    # A unit whose orders were all closed before the period has nothing in it: no row of zeros.
    return [UnitFigures(unit_id=unit, **{k: c[k] for k in UnitFigures.model_fields if k != "unit_id"})
            for unit, c in sorted(counts.items()) if any(c.values())]  # fmt: skip


async def figures_of(
    pool: asyncpg.Pool, schema: str, start: datetime, end: datetime, unit_id: str | None
) -> list[UnitFigures]:
    """The figures of [start, end) from the read model in `schema` (the live one, or a rebuild beside it)."""
    rows = await pool.fetch(
        f"SELECT state FROM {schema}.supervision_orders WHERE issued_at < $1"
        " AND ($2::text IS NULL OR target_unit_id = $2)",
        end, unit_id,
    )  # fmt: skip
    reminded = await pool.fetch(
        f"SELECT o.target_unit_id, count(*) AS n FROM {schema}.supervision_order_timeline t"
        f" JOIN {schema}.supervision_orders o ON o.id = t.order_id WHERE t.type = 'SupervisionOrderReminded'"
        " AND t.recorded_at >= $1 AND t.recorded_at < $2 AND ($3::text IS NULL OR o.target_unit_id = $3)"
        " GROUP BY o.target_unit_id", start, end, unit_id,
    )  # fmt: skip
    orders = [OrderState.model_validate_json(r["state"]) for r in rows]
    return unit_figures(orders, {r["target_unit_id"]: int(r["n"]) for r in reminded}, start, end)


class SupervisionFigures(Page[UnitFigures]):
    period: str = Field(description="统计期:月(2024-06)或 ISO 周(2024-W23)")
    as_of: datetime = Field(description="统计截止时刻(期末,或本期尚未结束时的当前时刻)")


@router.get("/supervision-figures", summary="督办统计(按督办对象单位与统计期:下达、按期办结、超期、催办)",
            dependencies=[MinSeqDep])  # fmt: skip
async def supervision_figures(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep,
    period: Annotated[str, Query(pattern=PERIOD, description="统计期:月 2024-06 或 ISO 周 2024-W23")],
    unit_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="督办对象单位编号")] = None,
) -> SupervisionFigures:  # fmt: skip
    if principal.role == Role.UNIT:  # a unit its own figures
        if unit_id not in (None, principal.org_id):
            raise Forbidden("责任单位只能查看本单位的督办统计", field="unit_id", reason="不是本单位")
        unit_id = principal.org_id
    elif principal.role not in {Role.SUPERVISION, Role.HQ, Role.AUDITOR}:
        raise Forbidden("无权查看督办统计")
    start, end = period_bounds(period)
    as_of = min(end, rt.clock.now())
    end = min(end, as_of + timedelta(microseconds=1))  # what was recorded up to the moment itself counts
    figures = await figures_of(rt.pool, rt.schema, start, end, unit_id)
    page = figures[paging.offset : paging.offset + paging.limit]
    return SupervisionFigures(items=page, total=len(figures), period=period, as_of=as_of, **paging.echo())
