"""The clock of issue coordination over HTTP: calendar and rule versions (hq publishes, everyone reads), hq's
escalation of an issue by hand and hq's escalation run for a day. Thin routes: one call each."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from services.issue_coordination import handlers_rules
from services.issue_coordination.api import IssueId, issue_written
from services.issue_coordination.commands_rules import (
    Escalate,
    EscalateBody,
    PublishCalendar,
    PublishIssueRules,
    RunEscalationsBody,
)
from services.issue_coordination.domain_rules import CALENDAR_ID, RULE_SET_ID, CalendarState, IssueRuleSetState
from services.issue_coordination.escalation import run_moment
from services.issue_coordination.escalation_runs import run_escalations
from services.issue_coordination.read_model_rules import CALENDARS, RULE_SETS, rule_data
from services.issue_coordination.views import Written
from shared.aggregate_table import AggregateTable
from shared.catalogue.issue_rules import CalendarVersionPublished, IssueRulesPublished
from shared.clock import today
from shared.command_bodies import command_from
from shared.envelope import Role
from shared.paging import Page, PagingDep
from shared.runtime import Runtime
from shared.time_travel import AsOf, AsOfDep, folded_until
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, require_roles, written

router = APIRouter(prefix="/v1")
S = TypeVar("S", CalendarState, IssueRuleSetState)


async def versions_as_of(
    rt: Runtime, table: AggregateTable[S], aggregate_id: str, as_of: AsOf, response: Response
) -> S:
    """The versions published by `as_of` (record time); none yet: an empty list."""
    state, _ = await folded_until(rt.store, table, aggregate_id, as_of.moment)
    as_of.mark(response)
    return state if state is not None else table.model()


HQ = require_roles(Role.HQ)


@router.get(
    "/calendars",
    tags=["rules"],
    summary="工作日历版本(放假日、调休上班日、生效日期;可查历史时刻 as_of)",
    dependencies=[MinSeqDep],
)
async def list_calendars(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[CalendarVersionPublished]:
    if as_of is not None:
        versions = (await versions_as_of(rt, CALENDARS, CALENDAR_ID, as_of, response)).versions
    else:
        versions = (await rule_data(rt.pool, rt.store, rt.schema)).calendar_state.versions
    return Page(items=paging.cut(versions), total=len(versions), **paging.echo())


@router.post(
    "/calendars", status_code=201, tags=["rules"], summary="发布新的工作日历版本(带生效日期)", dependencies=[HQ]
)
async def publish_calendar(cmd: PublishCalendar, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    outcome = await handlers_rules.publish_calendar(rt, cmd, meta)
    return Written(**written(outcome, response, 201, location="/v1/calendars"))


@router.get(
    "/issue-rules",
    tags=["rules"],
    summary="问题办理期限与逐级上报规则版本(可查历史时刻 as_of)",
    dependencies=[MinSeqDep],
)
async def list_issue_rules(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[IssueRulesPublished]:
    if as_of is not None:
        versions = (await versions_as_of(rt, RULE_SETS, RULE_SET_ID, as_of, response)).versions
    else:
        versions = (await rule_data(rt.pool, rt.store, rt.schema)).rule_state.versions
    return Page(items=paging.cut(versions), total=len(versions), **paging.echo())


@router.post(
    "/issue-rules", status_code=201, tags=["rules"], summary="发布新的办理期限与逐级上报规则版本(带生效日期)",
    dependencies=[HQ],
)  # fmt: skip
async def publish_issue_rules(cmd: PublishIssueRules, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    outcome = await handlers_rules.publish_issue_rules(rt, cmd, meta)
    return Written(**written(outcome, response, 201, location="/v1/issue-rules"))


@router.post(
    "/issues/{issue_id}/escalations", tags=["issues"], dependencies=[HQ],
    summary="手动升级问题到下一层级(指挥部办公室,须说明理由)",
)  # fmt: skip
async def escalate(issue_id: IssueId, body: EscalateBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Escalate, body, issue_id=issue_id)
    return issue_written(await handlers_rules.escalate(rt, cmd, meta), response)


class EscalationStepView(BaseModel):
    issue_id: str = Field(description="问题编号")
    to_level: str = Field(description="升级到的层级")


class EscalationRun(BaseModel):
    day: str = Field(description="执行升级的日期")
    as_of: str = Field(description="按此时刻判断是否超期(该日结束时刻,或当前时刻)")
    checked: int = Field(description="检查的已超期问题数")
    escalated: list[EscalationStepView] = Field(description="本次升级的问题及升级到的层级")
    overdue: list[str] = Field(description="已在最高层级、无法再升级的超期问题(本次记录逾期提醒的)")
    seq: int = Field(description="事件流序号(读取时可带 min_seq 等待读模型到达)")


@router.post(
    "/escalation-runs", tags=["issues"], dependencies=[HQ],
    summary="执行某日的逐级上报(指挥部办公室;默认今天,不能晚于平台今天;已升级的不重复升级)",
)  # fmt: skip
async def run_escalation(body: RunEscalationsBody, rt: RuntimeDep, meta: MetaDep) -> EscalationRun:
    day = body.day or today(rt.clock)
    at = run_moment(day, rt.clock.now())
    result = await run_escalations(rt, at, meta.context)
    steps: list[Any] = [EscalationStepView(issue_id=i, to_level=level) for i, level in result.escalated]
    return EscalationRun(
        day=day.isoformat(), as_of=at.isoformat(), checked=result.checked, escalated=steps, overdue=result.overdue,
        seq=await rt.store.last_seq(),
    )  # fmt: skip
