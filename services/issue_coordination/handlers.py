"""Issue use cases: load -> authorize -> decide -> append (shared.commands.handle), guarded by If-Match and
Idempotency-Key. Who may act is policies.py's; what the status allows is domain.py's.

Every write first finds the issue and the caller's right to it (404, then 403), then the status (409), so that a
caller who may not see an issue learns nothing of its state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from pydantic import BaseModel

from services.issue_coordination import policies
from services.issue_coordination import queries as q
from services.issue_coordination.commands import (
    Assign,
    DecideReassignment,
    Decision,
    RaiseIssue,
    RequestReassignment,
    Withdraw,
)
from services.issue_coordination.domain import IssueState, must_exist
from services.issue_coordination.domain_lifecycle import (
    assignable,
    decide_assign,
    decide_raise,
    decide_reassignment,
    decide_request_reassignment,
    decide_withdraw,
    reassignable,
)
from services.issue_coordination.handlers_rules import hand_set_deadline, rules_deadline_for
from services.issue_coordination.read_model import ISSUES
from shared.attachment_refs import referenced_attachments
from shared.auth import Principal
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.issue_coordination import (
    Deadline,
    IssueAssigned,
    IssueRaised,
    IssueReassigned,
    ReassignmentDeclined,
    ReassignmentRequested,
)
from shared.commands import CommandMeta, Outcome, handle
from shared.domain_errors import invalid
from shared.project_directory import ProjectEntry, project_entry
from shared.runtime import Runtime

# A check of the caller against the issue (and its project), run on the state the command decides on once the issue
# is found; an async one may also gather what the decision needs (units, attachments, the deadline).
Check = Callable[[IssueState, ProjectEntry | None], Awaitable[None] | None]
# A policy that names the action in its 403 (policies.must_be_lead, must_be_raiser, can_decide).
Rule = Callable[[Principal, IssueState, ProjectEntry | None, str], None]


async def project_of(rt: Runtime, project_id: str | None) -> ProjectEntry | None:
    if project_id is None:
        return None
    async with rt.pool.acquire() as conn:
        return await project_entry(conn, rt.schema, project_id)


def only(rule: Rule, meta: CommandMeta, action: str) -> Check:
    """The check that the caller is whom `rule` allows to take `action` (the action's name for the 403)."""
    return lambda issue, project: rule(meta.principal, issue, project, action)


async def _passes(check: Check, issue: IssueState, project: ProjectEntry | None) -> None:
    if (checking := check(issue, project)) is not None:
        await checking


async def act(
    rt: Runtime, issue_id: str, meta: CommandMeta, scope: str, check: Check,
    decide: Callable[[IssueState | None], BaseModel | None],
) -> Outcome:  # fmt: skip
    """An action on an issue: load, `check` the caller (404 for a missing issue is the decision's, before the 403),
    decide, append under `scope` (what the Idempotency-Key's event id is derived in)."""

    async def authorize(state: IssueState | None) -> None:
        if state is not None:
            await _passes(check, state, await project_of(rt, state.project_id))

    return await handle(rt, ISSUES, issue_id, decide, meta, scope=scope, authorize=authorize)


async def act_with_attachments(
    rt: Runtime, issue_id: str, meta: CommandMeta, scope: str, check: Check, attachments: list[str],
    decide: Callable[[IssueState | None, list[AttachmentRef]], BaseModel | None],
) -> Outcome:  # fmt: skip
    """`act` for an action that carries attachments: after `check`, they must be uploads of the issue's project."""
    refs: list[AttachmentRef] = []

    async def checked(issue: IssueState, project: ProjectEntry | None) -> None:
        await _passes(check, issue, project)
        refs[:] = await attachments_of(rt, "attachments", attachments, issue.project_id)

    return await act(rt, issue_id, meta, scope, checked, lambda state: decide(state, refs))


async def attachments_of(rt: Runtime, field: str, ids: list[str], project_id: str | None) -> list[AttachmentRef]:
    """Uploads of the issue's project (422 naming `field.<i>` otherwise); an item without a project takes none."""
    if not ids:
        return []
    if project_id is None:
        raise invalid(field, "未涉及项目的事项不能附带附件")
    return await referenced_attachments(rt.store, field, ids, project_id)


async def _unit(rt: Runtime, field: str, org_id: str) -> None:
    async with rt.pool.acquire() as conn:
        if await q.organisation_role(conn, rt.schema, org_id) != "unit":
            raise invalid(field, f"责任单位 {org_id} 不存在")


# -- raise and withdraw ------------------------------------------------------------------------------------------


async def raise_issue(rt: Runtime, cmd: RaiseIssue, meta: CommandMeta) -> Outcome:
    project = policies.known_project(await project_of(rt, cmd.project_id))
    policies.can_raise(meta.principal, project)
    refs = await attachments_of(rt, "attachments", cmd.attachments, project.project_id)
    raised = IssueRaised(
        project_id=project.project_id, programme_id=project.programme_id, category=cmd.category,
        description=cmd.description, help_requested=cmd.help_requested, priority=cmd.priority, attachments=refs,
    )  # fmt: skip
    issue_id = meta.new_id("iss-", "issue:raise")
    return await handle(rt, ISSUES, issue_id, lambda s: decide_raise(s, raised), meta, scope="issue:raise")


async def withdraw(rt: Runtime, cmd: Withdraw, meta: CommandMeta) -> Outcome:
    check = only(policies.must_be_raiser, meta, "撤回问题")
    scope = f"withdraw:{cmd.issue_id}"
    return await act(rt, cmd.issue_id, meta, scope, check, lambda s: decide_withdraw(s, cmd.reason))


# -- assignment --------------------------------------------------------------------------------------------------


async def assignment_deadline(rt: Runtime, issue: IssueState, given: datetime | None, now: datetime) -> Deadline:
    """The deadline an assignment (or a reassignment) gives: the one hq sets by hand, else the rules' (working days
    of the rule version in force on the calendar version in force, both recorded). The one place it is decided."""
    if given is None:
        if issue.deadline is not None and issue.deadline_source is not None:  # a reassignment keeps the running one
            return Deadline(deadline=issue.deadline, deadline_source=issue.deadline_source,
                            rule_version=issue.rule_version, calendar_version=issue.calendar_version,
                            deadline_since=issue.deadline_since)  # fmt: skip
        return await rules_deadline_for(rt, issue, now)
    if given <= now:
        raise invalid("deadline", "办理期限须晚于当前时间")
    return await hand_set_deadline(rt, given, now)


async def assign(rt: Runtime, cmd: Assign, meta: CommandMeta) -> Outcome:
    now = rt.clock.now()
    deadline: list[Deadline] = []  # decided on the state the assignment is decided on

    async def check(issue: IssueState, project: ProjectEntry | None) -> None:
        """Who (403), the status (409), the units (422), then the deadline."""
        policies.can_assign(meta.principal, issue, project)
        assignable(issue)
        await _units(rt, cmd.lead_unit_id, cmd.co_handler_ids)
        deadline[:] = [await assignment_deadline(rt, issue, cmd.deadline, now)]

    def decide(state: IssueState | None) -> IssueAssigned:
        issue = must_exist(state)  # found, so `check` has decided the deadline
        return decide_assign(issue, IssueAssigned(
            lead_unit_id=cmd.lead_unit_id, co_handler_ids=cmd.co_handler_ids, note=cmd.note, **deadline[0].model_dump()
        ))  # fmt: skip

    return await act(rt, cmd.issue_id, meta, f"assign:{cmd.issue_id}", check, decide)


async def _units(rt: Runtime, lead: str, co_handlers: list[str]) -> None:
    await _unit(rt, "lead_unit_id", lead)
    if lead in co_handlers or len(set(co_handlers)) != len(co_handlers):
        raise invalid("co_handler_ids", "协办单位不能重复,也不能是首接负责单位")
    for i, unit in enumerate(co_handlers):
        await _unit(rt, f"co_handler_ids.{i}", unit)


async def request_reassignment(rt: Runtime, cmd: RequestReassignment, meta: CommandMeta) -> tuple[Outcome, str]:
    """The outcome and the new request's id (derived from the Idempotency-Key when there is one)."""
    request = ReassignmentRequested(
        request_id=meta.new_id("rr-", f"reassignment:{cmd.issue_id}"), reason=cmd.reason,
        suggested_unit_id=cmd.suggested_unit_id,
    )  # fmt: skip

    async def check(issue: IssueState, project: ProjectEntry | None) -> None:
        policies.must_be_lead(meta.principal, issue, project, "申请退回改派")
        if cmd.suggested_unit_id is not None:
            await _unit(rt, "suggested_unit_id", cmd.suggested_unit_id)

    outcome = await act(rt, cmd.issue_id, meta, f"reassignment:{cmd.issue_id}", check,
                        lambda s: decide_request_reassignment(s, request))  # fmt: skip
    return outcome, request.request_id


async def decide_reassignment_request(rt: Runtime, cmd: DecideReassignment, meta: CommandMeta) -> Outcome:
    now = rt.clock.now()
    decision: list[IssueReassigned | ReassignmentDeclined] = []

    async def check(state: IssueState, project: ProjectEntry | None) -> None:
        """Who (403), the request and the status (404, 409), the new units (422), then the deadline."""
        policies.can_decide(meta.principal, state, project, "审批改派申请")
        reassignable(state, cmd.request_id)
        if cmd.decision == Decision.REJECT:
            decision[:] = [ReassignmentDeclined(request_id=cmd.request_id, reason=cmd.reason)]
            return
        if cmd.lead_unit_id is None:
            raise invalid("lead_unit_id", "同意改派须指定新的首接负责单位")
        if cmd.lead_unit_id == state.lead_unit_id:
            raise invalid("lead_unit_id", "新的首接负责单位须不同于原单位")
        await _units(rt, cmd.lead_unit_id, cmd.co_handler_ids)
        due = await assignment_deadline(rt, state, cmd.deadline, now)
        decision[:] = [IssueReassigned(
            request_id=cmd.request_id, lead_unit_id=cmd.lead_unit_id, co_handler_ids=cmd.co_handler_ids,
            reason=cmd.reason, **due.model_dump(),
        )]  # fmt: skip

    def decide(state: IssueState | None) -> IssueReassigned | ReassignmentDeclined:
        issue = must_exist(state)  # found, so `check` has made the decision
        return decide_reassignment(issue, cmd.request_id, decision[0])

    scope = f"reassignment_decision:{cmd.issue_id}:{cmd.request_id}"
    return await act(rt, cmd.issue_id, meta, scope, check, decide)
