"""Handling an assigned issue: acceptance, progress notes, extension requests and hq's decisions on them, questions
to the raiser and their answers, resolution, and the raiser's confirmation or rejection (see handlers.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.issue_coordination import policies
from services.issue_coordination.commands import (
    Accept,
    AddNote,
    Confirm,
    DecideExtension,
    Decision,
    ProvideInformation,
    Reject,
    RequestExtension,
    RequestInformation,
    Resolve,
)
from services.issue_coordination.deadlines import calendar_version_in_force
from services.issue_coordination.domain import IssueState, must_exist
from services.issue_coordination.domain_lifecycle import (
    decide_accept,
    decide_confirm,
    decide_extension,
    decide_note,
    decide_provide_information,
    decide_reject,
    decide_request_extension,
    decide_request_information,
    decide_resolve,
    pending_extension,
)
from services.issue_coordination.handlers import act, act_with_attachments, only
from services.issue_coordination.read_model_rules import rule_data
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.issue_coordination import (
    Deadline,
    DeadlineSource,
    ExtensionDecided,
    ExtensionRequested,
    InformationRequested,
)
from shared.commands import CommandMeta, Outcome
from shared.domain_errors import invalid
from shared.project_directory import ProjectEntry
from shared.runtime import Runtime

# -- handling ----------------------------------------------------------------------------------------------------


async def accept(rt: Runtime, cmd: Accept, meta: CommandMeta) -> Outcome:
    check = only(policies.must_be_lead, meta, "受理问题")
    return await act(rt, cmd.issue_id, meta, f"accept:{cmd.issue_id}", check, lambda s: decide_accept(s, cmd.note))


async def add_note(rt: Runtime, cmd: AddNote, meta: CommandMeta) -> Outcome:
    def check(issue: IssueState, project: ProjectEntry | None) -> None:
        policies.can_add_note(meta.principal, issue, project)

    return await act_with_attachments(rt, cmd.issue_id, meta, f"note:{cmd.issue_id}", check, cmd.attachments,
                                      lambda s, refs: decide_note(s, cmd.text, refs))  # fmt: skip


async def request_extension(rt: Runtime, cmd: RequestExtension, meta: CommandMeta) -> tuple[Outcome, str]:
    now = rt.clock.now()
    request = ExtensionRequested(
        request_id=meta.new_id("ext-", f"extension:{cmd.issue_id}"), requested_deadline=cmd.requested_deadline,
        reason=cmd.reason,
    )  # fmt: skip

    check = only(policies.must_be_lead, meta, "申请延期")
    outcome = await act(rt, cmd.issue_id, meta, f"extension:{cmd.issue_id}", check,
                        lambda s: decide_request_extension(s, request, now))  # fmt: skip
    return outcome, request.request_id


def extension_decision(
    issue: IssueState, cmd: DecideExtension, now: datetime, calendar_version: int | None
) -> ExtensionDecided:
    """hq's decision; a granted extension is a deadline set by hand, recording the calendar version in force now."""
    if cmd.decision == Decision.REJECT:
        return ExtensionDecided(request_id=cmd.request_id, granted=False, reason=cmd.reason)
    pending = pending_extension(issue, cmd.request_id)
    to = cmd.deadline or pending.requested_deadline
    if to is None or (issue.deadline is not None and to <= issue.deadline):
        raise invalid("deadline", "延期后的期限须晚于当前期限")
    due = Deadline(deadline=to, deadline_source=DeadlineSource.HQ, calendar_version=calendar_version,
                   deadline_since=now)  # fmt: skip
    return ExtensionDecided(request_id=cmd.request_id, granted=True, reason=cmd.reason, deadline=due)


async def decide_extension_request(rt: Runtime, cmd: DecideExtension, meta: CommandMeta) -> Outcome:
    check = only(policies.can_decide, meta, "审批延期申请")
    now = rt.clock.now()
    calendar_version = calendar_version_in_force((await rule_data(rt.pool, rt.store, rt.schema)).calendars, now)

    def decide(state: IssueState | None) -> ExtensionDecided:
        issue = must_exist(state)
        pending_extension(issue, cmd.request_id)  # 404 for an unknown request, 409 for one decided already
        return decide_extension(issue, extension_decision(issue, cmd, now, calendar_version))

    scope = f"extension_decision:{cmd.request_id}:{cmd.issue_id}"
    return await act(rt, cmd.issue_id, meta, scope, check, decide)


async def request_information(rt: Runtime, cmd: RequestInformation, meta: CommandMeta) -> tuple[Outcome, str]:
    request = InformationRequested(
        request_id=meta.new_id("inf-", f"information:{cmd.issue_id}"), question=cmd.question, at=rt.clock.now()
    )

    check = only(policies.must_be_lead, meta, "请提出单位补充情况")
    outcome = await act(rt, cmd.issue_id, meta, f"information:{cmd.issue_id}", check,
                        lambda s: decide_request_information(s, request))  # fmt: skip
    return outcome, request.request_id


async def provide_information(rt: Runtime, cmd: ProvideInformation, meta: CommandMeta) -> Outcome:
    now = rt.clock.now()

    def decide(state: IssueState | None, refs: list[AttachmentRef]) -> BaseModel:
        provided = decide_provide_information(state, cmd.answer, refs)
        if provided.request_id != cmd.request_id:
            raise invalid("request_id", "不是待补充的情况请求")
        return provided.model_copy(update={"at": now})

    scope = f"information_answer:{cmd.issue_id}:{cmd.request_id}"
    check = only(policies.must_be_raiser, meta, "补充情况")
    return await act_with_attachments(rt, cmd.issue_id, meta, scope, check, cmd.attachments, decide)


async def resolve(rt: Runtime, cmd: Resolve, meta: CommandMeta) -> Outcome:
    check = only(policies.must_be_lead, meta, "办结问题")
    return await act_with_attachments(rt, cmd.issue_id, meta, f"resolve:{cmd.issue_id}", check, cmd.attachments,
                                      lambda s, refs: decide_resolve(s, cmd.answer, refs))  # fmt: skip


async def confirm(rt: Runtime, cmd: Confirm, meta: CommandMeta) -> Outcome:
    check = only(policies.must_be_raiser, meta, "确认办结")
    return await act(rt, cmd.issue_id, meta, f"confirm:{cmd.issue_id}", check,
                     lambda s: decide_confirm(s, cmd.rating, cmd.comment))  # fmt: skip


async def reject(rt: Runtime, cmd: Reject, meta: CommandMeta) -> Outcome:
    check = only(policies.must_be_raiser, meta, "退回重办")
    return await act(rt, cmd.issue_id, meta, f"reject:{cmd.issue_id}", check, lambda s: decide_reject(s, cmd.reason))
