"""Supervision order (督办) use cases: who may act (the supervision office and hq issue, review, remind and close;
the target unit submits its rectification plan), then the decision in supervision.py, appended under If-Match and
Idempotency-Key (shared.commands.handle). 404 before 403 before 409, as for issues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from services.issue_coordination import queries as q
from services.issue_coordination.commands import Attachments
from services.issue_coordination.deadlines import hand_set, rules_deadline
from services.issue_coordination.handlers import attachments_of, project_of
from services.issue_coordination.policies import known_project
from services.issue_coordination.read_model_rules import RuleData, rule_data
from services.issue_coordination.supervision import (
    OrderState,
    decide_close,
    decide_issue,
    decide_remind,
    decide_review_plan,
    decide_submit_plan,
)
from services.issue_coordination.supervision_read_model import ORDERS
from services.issue_coordination.supervision_reminders import cadence_on
from shared.auth import Principal
from shared.catalogue.issue_coordination import (
    Deadline,
    DeadlineSource,
    RectificationPlanSubmitted,
    SupervisionOrderIssued,
)
from shared.command_bodies import Strict
from shared.commands import CommandMeta, Outcome, handle, load
from shared.domain_errors import Forbidden, invalid
from shared.envelope import Role
from shared.project_directory import ProjectEntry
from shared.runtime import Runtime

SUPERVISORS = frozenset({Role.SUPERVISION, Role.HQ})
READ_ALL = frozenset({Role.SUPERVISION, Role.HQ, Role.AUDITOR})
# Rule data: a 督办 order's deadline by the rules is that of an urgent "other" issue (working days on the calendar
# in force); its reminders follow the rules' `reminder_every_days` (supervision_reminders.py).
DEADLINE_CATEGORY, DEADLINE_PRIORITY = "other", "urgent"


class IssueOrder(Strict):
    target_unit_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="督办对象(责任单位编号)")
    issue_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="督办的问题编号")
    project_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="督办的项目编号")
    subject: str = Field(min_length=1, max_length=200, description="督办事项")
    requirement: str = Field(min_length=1, max_length=4000, description="督办要求")
    deadline: AwareDatetime | None = Field(
        default=None, description="办结期限(带时区);省略则按当日生效的期限规则和工作日历计算,并记录所用版本"
    )


class SubmitPlan(Strict):
    text: str = Field(min_length=1, max_length=4000, description="整改方案")
    attachments: Attachments = Field(default_factory=list)


class ReviewPlan(Strict):
    accepted: bool = Field(description="true 认可整改方案 / false 退回重报")
    reason: str = Field(default="", max_length=2000, description="审核意见(退回时必填)")


class Remind(Strict):
    text: str = Field(min_length=1, max_length=2000, description="催办内容")


class Close(Strict):
    conclusion: str = Field(min_length=1, max_length=4000, description="办结意见")


def must_supervise(principal: Principal, what: str) -> None:
    if principal.role not in SUPERVISORS:
        raise Forbidden(f"只有督查室或指挥部办公室可以{what}")


def may_see(principal: Principal, order: OrderState, project: ProjectEntry | None) -> bool:
    """Supervision, hq, auditors all; the target unit its own; the project's unit and sponsoring leader theirs."""
    if principal.role in READ_ALL or principal.org_id == order.target_unit_id:
        return True
    if project is None:
        return False
    return principal.org_id in {project.unit_id, project.sponsor_leader_id} and principal.role in {
        Role.UNIT,
        Role.LEADER,
    }


async def can_read(rt: Runtime, principal: Principal, order: OrderState) -> None:
    if not may_see(principal, order, await project_of(rt, order.project_id)):
        raise Forbidden("无权查看该督办单")


def _deadline(data: RuleData, given: datetime | None, now: datetime) -> Deadline:
    if given is not None:
        if given <= now:
            raise invalid("deadline", "办结期限须晚于当前时间")
        return hand_set(data.calendars, given, now)
    computed = rules_deadline(category=DEADLINE_CATEGORY, priority=DEADLINE_PRIORITY, since=now,
                              rule_versions=data.rule_versions, calendars=data.calendars)  # fmt: skip
    return Deadline(deadline=computed.deadline, deadline_source=DeadlineSource.RULES, deadline_since=now,
                    rule_version=computed.rule_version, calendar_version=computed.calendar_version)  # fmt: skip


async def issue_order(rt: Runtime, cmd: IssueOrder, meta: CommandMeta) -> Outcome:
    must_supervise(meta.principal, "下达督办单")
    if cmd.issue_id is None and cmd.project_id is None:
        raise invalid("issue_id", "须指明督办的问题或项目(issue_id 或 project_id 至少一项)")
    async with rt.pool.acquire() as conn:
        if await q.organisation_role(conn, rt.schema, cmd.target_unit_id) != "unit":
            raise invalid("target_unit_id", f"责任单位 {cmd.target_unit_id} 不存在")
    project_id = cmd.project_id
    if cmd.issue_id is not None:
        found = await q.get_issue(rt.pool, rt.schema, cmd.issue_id)
        if found is None:
            raise invalid("issue_id", "问题不存在")
        if project_id is not None and found[0].project_id not in (None, project_id):
            raise invalid("project_id", "与所督办问题的项目不一致")
        project_id = project_id or found[0].project_id
    programme_id = None
    if project_id is not None:
        project = known_project(await project_of(rt, project_id))
        programme_id = project.programme_id
    now = rt.clock.now()
    data = await rule_data(rt.pool, rt.store, rt.schema)
    deadline = _deadline(data, cmd.deadline, now)
    issued = SupervisionOrderIssued(
        target_unit_id=cmd.target_unit_id, issue_id=cmd.issue_id, project_id=project_id, programme_id=programme_id,
        subject=cmd.subject, requirement=cmd.requirement, reminder_every_days=cadence_on(data.rule_versions, now),
        **deadline.model_dump(),
    )  # fmt: skip
    order_id = meta.new_id("sup-", "supervision:issue")
    return await handle(rt, ORDERS, order_id, lambda s: decide_issue(s, issued), meta, scope="supervision:issue")


async def _act(
    rt: Runtime, order_id: str, meta: CommandMeta, scope: str, check: Callable[[OrderState], None],
    decide: Callable[[OrderState | None], BaseModel | None],
) -> Outcome:  # fmt: skip
    async def authorize(state: OrderState | None) -> None:
        if state is not None:
            await can_read(rt, meta.principal, state)
            check(state)

    return await handle(rt, ORDERS, order_id, decide, meta, scope=f"{scope}:{order_id}", authorize=authorize)


async def submit_plan(rt: Runtime, order_id: str, body: SubmitPlan, meta: CommandMeta) -> Outcome:
    # The order as the log has it (its row plus the tail of its subject): one just issued may not be in the row yet.
    found = (await load(rt.pool, rt.store, rt.schema, ORDERS, order_id)).state
    refs = await attachments_of(rt, "attachments", body.attachments, found.project_id if found else None)

    def check(order: OrderState) -> None:
        if meta.principal.org_id != order.target_unit_id:
            raise Forbidden("只有督办对象单位可以报送整改方案")

    plan_id = meta.new_id("plan-", f"supervision:plan:{order_id}")
    event = RectificationPlanSubmitted(plan_id=plan_id, text=body.text, attachments=refs)
    return await _act(rt, order_id, meta, "supervision:plan", check, lambda s: decide_submit_plan(s, event))


async def review_plan(rt: Runtime, order_id: str, body: ReviewPlan, meta: CommandMeta) -> Outcome:
    if not body.accepted and len(body.reason.strip()) < 2:
        raise invalid("reason", "退回整改方案须说明理由")
    check = lambda order: must_supervise(meta.principal, "审核整改方案")  # noqa: E731
    return await _act(rt, order_id, meta, "supervision:review", check,
                      lambda s: decide_review_plan(s, body.accepted, body.reason))  # fmt: skip


async def remind(rt: Runtime, order_id: str, body: Remind, meta: CommandMeta) -> Outcome:
    check = lambda order: must_supervise(meta.principal, "催办")  # noqa: E731
    return await _act(rt, order_id, meta, "supervision:remind", check, lambda s: decide_remind(s, body.text))


async def close(rt: Runtime, order_id: str, body: Close, meta: CommandMeta) -> Outcome:
    check = lambda order: must_supervise(meta.principal, "办结督办单")  # noqa: E731
    return await _act(rt, order_id, meta, "supervision:close", check, lambda s: decide_close(s, body.conclusion))
