"""Supervision orders (督办) over HTTP, paths fixed by issue 9: `/v1/supervision-orders` (issue, list), one order,
its timeline, and the steps as sub-resources (`/rectification-plan`, its `/review`, `/reminders`, `/closure`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from services.issue_coordination.api import (
    TIMELINE_AS_OF,
    payload_parsed,
    timeline_as_of,
    timeline_page,
    timeline_page_of,
)
from services.issue_coordination.supervision import OPEN_ORDER, ORDER_STATUS_LABELS, OrderState, OrderStatus, Plan
from services.issue_coordination.supervision_handlers import (
    Close,
    IssueOrder,
    Remind,
    ReviewPlan,
    SubmitPlan,
    can_read,
    close,
    issue_order,
    remind,
    review_plan,
    submit_plan,
)
from services.issue_coordination.supervision_read_model import ORDER_TIMELINE, ORDERS
from services.issue_coordination.views import TimelineEntry, Written
from shared.auth import Principal
from shared.catalogue.issue_coordination import DeadlineSource
from shared.commands import Outcome
from shared.envelope import Role
from shared.paging import Page, PagingDep
from shared.problems import Problem
from shared.runtime import Runtime
from shared.time_travel import AsOfDep, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1/supervision-orders", tags=["supervision-orders"])
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
OrderId = Annotated[str, Path(description="督办单编号")]
ORDER_EVENT_SUMMARIES = {
    "SupervisionOrderIssued": "下达督办单", "RectificationPlanSubmitted": "报送整改方案",
    "RectificationPlanReviewed": "审核整改方案", "SupervisionOrderReminded": "催办",
    "SupervisionOrderClosed": "办结销号", "SupervisionOrderDeadlineNeared": "临期提醒",
}  # fmt: skip


class OrderView(BaseModel):
    id: str = Field(description="督办单编号")
    issued_by: str = Field(description="下达机构")
    issued_at: datetime = Field(description="下达时间")
    target_unit_id: str = Field(description="督办对象(责任单位)")
    issue_id: str | None = Field(description="督办的问题编号")
    project_id: str | None = Field(description="督办的项目编号")
    programme_id: str | None = Field(description="年度重点项目批次编号")
    subject: str = Field(description="督办事项")
    requirement: str = Field(description="督办要求")
    deadline: datetime = Field(description="办结期限")
    deadline_source: DeadlineSource = Field(description="rules 按规则计算 / hq 人工指定")
    rule_version: int | None = Field(description="计算期限所用的规则版本")
    calendar_version: int | None = Field(description="计算期限所用的工作日历版本")
    reminder_every_days: int = Field(
        description="下达时生效规则的自动催办周期(自然日);每次自动催办按当日生效的规则版本计算下次催办"
    )
    status: OrderStatus = Field(description="状态:issued 待报整改方案、plan_submitted 整改方案待审、"
                                "rectifying 整改中、closed 已办结")  # fmt: skip
    status_label: str = Field(description="状态(中文)")
    plan: Plan | None = Field(description="最近报送的整改方案")
    plans_returned: int = Field(description="整改方案被退回次数")
    reminders: int = Field(description="已催办次数")
    last_reminded_at: datetime | None = Field(description="最近催办时间")
    closed_at: datetime | None = Field(description="办结时间")
    conclusion: str | None = Field(description="办结意见")
    overdue: bool = Field(description="是否超期未办结")
    version: int = Field(description="版本号(用于 If-Match)")


def order_view(order: OrderState, version: int, now: datetime) -> OrderView:
    fields = order.model_dump(exclude={"reminder_periods", "deadline_notices", "last_changed_at"})
    return OrderView(**fields, status_label=ORDER_STATUS_LABELS[order.status], overdue=order.overdue(now),
                     version=version)  # fmt: skip


def order_written(outcome: Outcome, response: Response, status: int = 200) -> Written:
    return Written(**written(outcome, response, status, location=f"/v1/supervision-orders/{outcome.aggregate_id}"))


async def readable(rt: Runtime, principal: Principal, order_id: str) -> tuple[OrderState, int]:
    row = await rt.pool.fetchrow(f"SELECT state, version FROM {rt.schema}.supervision_orders WHERE id = $1", order_id)
    if row is None:
        raise Problem(404, "督办单不存在")
    order = OrderState.model_validate_json(row["state"])
    await can_read(rt, principal, order)
    return order, int(row["version"])


@router.post("", status_code=201, summary="下达督办单(督查室或指挥部办公室:督办对象、问题或项目、期限)")
async def issue(cmd: IssueOrder, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return order_written(await issue_order(rt, cmd, meta), response, 201)


@router.get("", summary="督办单列表(按单位、项目、问题、状态、是否超期筛选)", dependencies=[MinSeqDep])
async def list_orders(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep,
    unit_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="督办对象单位编号")] = None,
    project_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="项目编号")] = None,
    issue_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="问题编号")] = None,
    status: Annotated[OrderStatus | None, Query(description="状态")] = None,
    overdue: Annotated[bool | None, Query(description="true 只列超期的,false 只列未超期的")] = None,
) -> Page[OrderView]:  # fmt: skip
    now = rt.clock.now()
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for column, value in (("target_unit_id", unit_id), ("project_id", project_id), ("issue_id", issue_id),
                          ("status", status and status.value)):  # fmt: skip
        if value is not None:
            clauses.append(f"o.{column} = {arg(value)}")
    if overdue is not None:
        late = f"(o.status = ANY({arg(sorted(OPEN_ORDER))}::text[]) AND o.deadline < {arg(now)})"
        clauses.append(late if overdue else f"NOT {late}")
    if principal.role not in {Role.SUPERVISION, Role.HQ, Role.AUDITOR}:  # the same rule as may_see
        org = arg(principal.org_id)
        clauses.append(f"(o.target_unit_id = {org} OR o.project_id IN (SELECT id FROM {rt.schema}.project_directory"
                       f" WHERE unit_id = {org} OR sponsor_leader_id = {org}))")  # fmt: skip
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await rt.pool.fetchval(f"SELECT count(*) FROM {rt.schema}.supervision_orders o {where}", *args)
    rows = await rt.pool.fetch(
        f"SELECT state, version FROM {rt.schema}.supervision_orders o {where} ORDER BY o.issued_at, o.id"
        f" LIMIT {arg(paging.limit)} OFFSET {arg(paging.offset)}", *args,
    )  # fmt: skip
    items = [order_view(OrderState.model_validate_json(r["state"]), int(r["version"]), now) for r in rows]
    return Page(items=items, total=int(total), **paging.echo())


@router.get(
    "/{order_id}", summary="督办单详情(状态、整改方案、催办、期限;可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻记录的督办单(由事件日志折叠),是否超期按该时刻判断;"
    "谁可查看按现行督办单判断。",
)  # fmt: skip
async def get_one(
    order_id: OrderId, rt: RuntimeDep, principal: PrincipalDep, response: Response, as_of: AsOfDep
) -> OrderView:
    order, version = await readable(rt, principal, order_id)
    now = rt.clock.now()
    if as_of is not None:
        then = await fold_as_of(rt.store, ORDERS, order_id, as_of.moment, noun="督办单", snapshots=rt.snapshots)
        order, version, now = then.state, then.position.version, as_of.moment
        as_of.mark(response)
    response.headers["ETag"] = f'"{version}"'
    return order_view(order, version, now)


@router.get("/{order_id}/timeline", summary="督办过程(下达、整改方案、催办、办结;可查历史时刻 as_of)",
            description=TIMELINE_AS_OF.format(noun="督办单"), dependencies=[MinSeqDep])  # fmt: skip
async def timeline(
    order_id: OrderId, rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[TimelineEntry]:
    await readable(rt, principal, order_id)
    if as_of is not None:
        rows = await timeline_as_of(rt, ORDERS.aggregate_type, order_id, as_of, response, noun="督办单")
        return timeline_page_of(payload_parsed(paging.cut(rows)), len(rows), paging, ORDER_EVENT_SUMMARIES)
    return await timeline_page(rt, ORDER_TIMELINE.table, "order_id", order_id, paging, ORDER_EVENT_SUMMARIES)


@router.post("/{order_id}/rectification-plan", summary="报送整改方案(督办对象单位;可附附件)")
async def plan(order_id: OrderId, body: SubmitPlan, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return order_written(await submit_plan(rt, order_id, body, meta), response)


@router.post("/{order_id}/rectification-plan/review", summary="审核整改方案(督查室:认可或退回重报)")
async def review(order_id: OrderId, body: ReviewPlan, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return order_written(await review_plan(rt, order_id, body, meta), response)


@router.post("/{order_id}/reminders", status_code=201, summary="催办(督查室或指挥部办公室)")
async def reminder(order_id: OrderId, body: Remind, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return order_written(await remind(rt, order_id, body, meta), response, 201)


@router.post("/{order_id}/closure", summary="办结督办单(督查室;须有已认可的整改方案)")
async def closure(order_id: OrderId, body: Close, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return order_written(await close(rt, order_id, body, meta), response)
