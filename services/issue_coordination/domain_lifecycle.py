"""The decisions on an issue's commands, free of I/O: what its status allows (409 naming the current status
otherwise) and the event each command appends. Who may act is policies.py's."""

from __future__ import annotations

from datetime import datetime

from services.issue_coordination.domain import (
    OPEN,
    IssueState,
    PendingRequest,
    Status,
    must_exist,
    require_status,
)
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.issue_coordination import (
    ExtensionDecided,
    ExtensionRequested,
    InformationProvided,
    InformationRequested,
    IssueAccepted,
    IssueAssigned,
    IssueNoteAdded,
    IssueRaised,
    IssueReassigned,
    IssueResolved,
    IssueWithdrawn,
    MeetingDecisionTracked,
    ReassignmentDeclined,
    ReassignmentRequested,
    ResolutionConfirmed,
    ResolutionRejected,
)
from shared.domain_errors import Conflict, NotFound, invalid


def decide_raise(state: IssueState | None, event: IssueRaised) -> IssueRaised | None:
    """A new issue under a fresh id; a retried raise (same Idempotency-Key, so the same id) finds it: nothing to do."""
    return event if state is None else None


def decide_withdraw(state: IssueState | None, reason: str) -> IssueWithdrawn:
    issue = must_exist(state)
    require_status(issue, {Status.RAISED}, "撤回(只能在交办前撤回)")
    return IssueWithdrawn(reason=reason)


def _refused(issue: IssueState, why: str, **extra: str) -> Conflict:
    """409 for what the issue's requests or questions (not its status alone) do not allow; `why` is said to both."""
    return Conflict(why, field="status", reason=why, current_status=issue.status.value, **extra)


def assignable(issue: IssueState) -> None:
    require_status(issue, {Status.RAISED}, "交办(已交办的问题只能经改派申请改派)")


def decide_assign(state: IssueState | None, assigned: IssueAssigned) -> IssueAssigned:
    assignable(must_exist(state))
    return assigned


def decide_request_reassignment(state: IssueState | None, event: ReassignmentRequested) -> ReassignmentRequested:
    issue = must_exist(state)
    require_status(issue, OPEN, "申请改派")
    if issue.reassignment_request is not None:
        raise _refused(issue, "已有待审批的改派申请", pending=issue.reassignment_request.request_id)
    return event


def pending_reassignment(issue: IssueState, request_id: str) -> PendingRequest:
    return _pending_request(issue, issue.reassignment_request, request_id, "改派申请")


def pending_extension(issue: IssueState, request_id: str) -> PendingRequest:
    return _pending_request(issue, issue.extension_request, request_id, "延期申请")


def _pending_request(issue: IssueState, pending: PendingRequest | None, request_id: str, what: str) -> PendingRequest:
    if pending is not None and pending.request_id == request_id:
        return pending
    if request_id in issue.decided_request_ids:
        raise Conflict(f"该{what}已审批", field="request_id", reason="已审批", current_status=issue.status.value)
    raise NotFound(f"{what}不存在", field="request_id", reason=f"{what}不存在")


def reassignable(issue: IssueState, request_id: str) -> None:
    """`request_id` is the pending reassignment request (404 if unknown, 409 if decided) of an issue being handled."""
    pending_reassignment(issue, request_id)
    require_status(issue, OPEN, "改派")


def decide_reassignment(
    state: IssueState | None, request_id: str, decision: IssueReassigned | ReassignmentDeclined
) -> IssueReassigned | ReassignmentDeclined:
    reassignable(must_exist(state), request_id)
    return decision


def decide_accept(state: IssueState | None, note: str) -> IssueAccepted:
    issue = must_exist(state)
    require_status(issue, {Status.ASSIGNED}, "受理")
    return IssueAccepted(note=note)


def decide_note(state: IssueState | None, text: str, attachments: list[AttachmentRef]) -> IssueNoteAdded:
    issue = must_exist(state)
    require_status(issue, {Status.RAISED, *OPEN, Status.RESOLVED}, "添加进展")
    return IssueNoteAdded(text=text, attachments=attachments)


def decide_request_extension(state: IssueState | None, event: ExtensionRequested, now: datetime) -> ExtensionRequested:
    issue = must_exist(state)
    require_status(issue, OPEN, "申请延期")
    if event.requested_deadline <= now:
        raise invalid("requested_deadline", "申请的期限须晚于当前时间")
    if issue.extension_request is not None:
        raise _refused(issue, "已有待审批的延期申请", pending=issue.extension_request.request_id)
    if issue.deadline is not None and event.requested_deadline <= issue.deadline:
        raise invalid("requested_deadline", "申请的期限须晚于当前期限")
    return event


def decide_extension(state: IssueState | None, decided: ExtensionDecided) -> ExtensionDecided:
    issue = must_exist(state)
    pending_extension(issue, decided.request_id)
    require_status(issue, OPEN, "审批延期")
    return decided


def decide_request_information(state: IssueState | None, event: InformationRequested) -> InformationRequested:
    issue = must_exist(state)
    require_status(issue, OPEN, "请提出单位补充情况")
    if issue.waiting_for_raiser is not None:
        raise _refused(issue, "已在等待提出单位补充情况")
    return event


def decide_provide_information(
    state: IssueState | None, answer: str, attachments: list[AttachmentRef]
) -> InformationProvided:
    issue = must_exist(state)
    waiting = issue.waiting_for_raiser
    if waiting is None:
        raise _refused(issue, "没有待补充的情况")
    return InformationProvided(request_id=waiting.request_id, answer=answer, attachments=attachments)


def decide_resolve(state: IssueState | None, answer: str, attachments: list[AttachmentRef]) -> IssueResolved:
    issue = must_exist(state)
    require_status(issue, {Status.ACCEPTED}, "办结(须先受理)")
    if issue.waiting_for_raiser is not None:
        raise Conflict("正在等待提出单位补充情况,不能办结", field="status", reason="等待提出单位补充情况",
                       current_status=issue.status.value)  # fmt: skip
    return IssueResolved(answer=answer, attachments=attachments)


def decide_confirm(state: IssueState | None, rating: int, comment: str) -> ResolutionConfirmed:
    issue = must_exist(state)
    require_status(issue, {Status.RESOLVED}, "确认办结")
    return ResolutionConfirmed(rating=rating, comment=comment)


def decide_reject(state: IssueState | None, reason: str) -> ResolutionRejected:
    issue = must_exist(state)
    require_status(issue, {Status.RESOLVED}, "退回重办")
    return ResolutionRejected(reason=reason)


def decide_track_decision(state: IssueState | None, tracked: MeetingDecisionTracked) -> MeetingDecisionTracked | None:
    """One item per decision: the item's id is derived from the decision, so a replay or a second replica finds it
    there and does nothing."""
    return tracked if state is None else None
