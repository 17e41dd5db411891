"""Change requests (变更申请), free of I/O: what moves a project's baseline is filed, then approved or rejected by hq.

- A request lives in its own aggregate `change_request`. Its id is the n-th slot of its kind for its project
  (`cr-<project>-<kind>-<n>`): a request is filed into the first free slot after the last decided one, so two
  filings of one kind for one project race for the same subject and optimistic concurrency lets only one in; the
  other decides again, finds a pending request there, and is refused (409).
- Only an approval changes anything, and not here: the approval carries the change, and reactions apply it (intake
  to the project, scheduling to the plan's milestone) with the same decisions a direct change goes through
  (`decide_apply`), so an approved change obeys every rule a direct one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from services.intake.commands import AmendProject, ChangePhase
from services.intake.commands_change_requests import DecideChangeRequest, Decision, FileChangeRequest
from services.intake.domain import Changes, ProjectState, decide_amend_project, decide_change_phase, fold
from shared.catalogue.intake import (
    AttachmentRef,
    ChangeDetails,
    ChangeRequestApproved,
    ChangeRequestFiled,
    ChangeRequestKind,
    ChangeRequestRejected,
    Phase,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
)
from shared.domain_errors import Conflict, DomainError, NotFound, invalid
from shared.envelope import Envelope

K = ChangeRequestKind
# The fields each kind needs (all of them, or at least one of them for `ANY_OF`); no other detail may be given.
REQUIRED: dict[K, tuple[str, ...]] = {
    K.CANCEL: (), K.SUSPEND: (), K.RESUME: (),
    K.REBASELINE_MILESTONE: ("plan_id", "milestone_id", "to_date"),
    K.PLANNED_DATES: (), K.PLANNED_INVESTMENT: (),
}  # fmt: skip
ANY_OF: dict[K, tuple[str, ...]] = {
    K.PLANNED_DATES: ("planned_start", "planned_completion"),
    K.PLANNED_INVESTMENT: ("total_investment", "annual_planned_investment"),
}
TARGET_PHASE = {K.CANCEL: Phase.CANCELLED, K.SUSPEND: Phase.SUSPENDED}
# What intake applies itself; a milestone is scheduling's (its reaction re-baselines the plan).
APPLIED_BY_INTAKE = frozenset({K.CANCEL, K.SUSPEND, K.RESUME, K.PLANNED_DATES, K.PLANNED_INVESTMENT})
KIND_NAMES = {
    K.CANCEL: "取消项目", K.SUSPEND: "暂停项目", K.RESUME: "恢复项目", K.REBASELINE_MILESTONE: "调整节点日期",
    K.PLANNED_DATES: "调整计划日期", K.PLANNED_INVESTMENT: "调整计划投资",
}  # fmt: skip
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


def change_request_id(project_id: str, kind: ChangeRequestKind, slot: int) -> str:
    return f"cr-{project_id}-{kind.value}-{slot}"


class ChangeRequestState(ChangeDetails):
    id: str
    project_id: str
    programme_id: str
    unit_id: str
    kind: ChangeRequestKind
    reason: str
    evidence: list[str] = Field(default_factory=list)
    status: str = PENDING  # pending | approved | rejected
    filed_by: str
    filed_at: datetime
    filed_event_id: str  # a retried filing (same Idempotency-Key) recognises its own request by it
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None


def evolve_change_request(
    state: ChangeRequestState | None, envelope: Envelope, payload: BaseModel | None = None
) -> ChangeRequestState:
    def create(p: ChangeRequestFiled) -> ChangeRequestState:
        return ChangeRequestState(
            id=envelope.aggregate_id, filed_by=envelope.actor.org_id, filed_at=envelope.recorded_at,
            filed_event_id=str(envelope.id), **p.model_dump(),
        )  # fmt: skip

    def decided(_: ChangeRequestState, p: ChangeRequestApproved | ChangeRequestRejected) -> dict[str, object]:
        return {
            "status": APPROVED if isinstance(p, ChangeRequestApproved) else REJECTED,
            "decided_by": envelope.actor.org_id, "decided_at": envelope.recorded_at, "decision_reason": p.reason,
        }  # fmt: skip

    changes: Changes[ChangeRequestState] = {ChangeRequestApproved: decided, ChangeRequestRejected: decided}
    return fold(state, envelope, create, ChangeRequestFiled, changes, payload)


# -- decisions ---------------------------------------------------------------------------------------------------


def details_of(cmd: FileChangeRequest) -> ChangeDetails:
    """The change a request asks for: the fields its kind needs, and none of the others (422 naming the field)."""
    details = ChangeDetails(**{name: getattr(cmd, name) for name in ChangeDetails.model_fields})
    given = {name for name, value in details if value is not None}
    allowed = {*REQUIRED[cmd.kind], *ANY_OF.get(cmd.kind, ())}
    for name in sorted(given - allowed):
        raise invalid(name, f"变更类型 {cmd.kind.value} 不使用该字段")
    for name in REQUIRED[cmd.kind]:
        if name not in given:
            raise invalid(name, f"变更类型 {cmd.kind.value} 须填写该字段")
    any_of = ANY_OF.get(cmd.kind, ())
    if any_of and not given & set(any_of):
        raise invalid(any_of[0], f"变更类型 {cmd.kind.value} 须至少填写 {'、'.join(any_of)} 之一")
    return details


def decide_file(
    state: ChangeRequestState | None,
    cmd: FileChangeRequest,
    project: ProjectState,
    attachments: Sequence[AttachmentRef] = (),
) -> ChangeRequestFiled:
    """File into this slot: free, and the change must be one the project could take now."""
    if state is not None:
        what = "已有待审批的同类变更申请" if state.status == PENDING else "该变更申请编号已被占用,请重试"
        raise Conflict(f"{what} {state.id}", field="kind", reason=f"{what} {state.id}", pending=state.id)
    details = details_of(cmd)
    check_applicable(project, cmd.kind, details)
    return ChangeRequestFiled(
        project_id=project.id, programme_id=project.programme_id, unit_id=project.unit_id, kind=cmd.kind,
        reason=cmd.reason, evidence=cmd.evidence, attachments=list(attachments),
        **details.model_dump(exclude_none=True),
    )  # fmt: skip


def decide_change_request(
    state: ChangeRequestState | None, cmd: DecideChangeRequest, project: ProjectState
) -> ChangeRequestApproved | ChangeRequestRejected:
    request = must_exist(state)
    if request.status != PENDING:
        done = "批准" if request.status == APPROVED else "驳回"
        raise Conflict(f"变更申请已{done}", field="change_request_id", reason=f"已{done}")
    if cmd.decision == Decision.REJECT:
        return ChangeRequestRejected(project_id=request.project_id, kind=request.kind, reason=cmd.reason)
    details = ChangeDetails(**{name: getattr(request, name) for name in ChangeDetails.model_fields})
    # An approval that could not be applied any more (the project moved on since the filing) is refused now.
    check_applicable(project, request.kind, details)
    return ChangeRequestApproved(
        project_id=request.project_id, kind=request.kind, reason=cmd.reason, **details.model_dump(exclude_none=True)
    )


def must_exist(state: ChangeRequestState | None) -> ChangeRequestState:
    if state is None:
        raise NotFound("变更申请不存在", field="change_request_id", reason="变更申请不存在")
    return state


def check_applicable(project: ProjectState, kind: ChangeRequestKind, details: ChangeDetails) -> None:
    """Whether the project could take the change now (the same decision its application will make)."""
    if project.phase == Phase.CANCELLED:
        raise Conflict("项目已取消,不能再变更", field="kind", reason="项目已取消")
    if kind not in APPLIED_BY_INTAKE:
        return  # a milestone: scheduling checks it when the approval reaches the plan
    try:
        _apply(project, kind, details, reason="", change_request_id="check")
    except Conflict as exc:  # a phase the project cannot go to: the request's kind is what is wrong
        raise Conflict(exc.detail, field="kind", reason=exc.reason) from None


def decide_apply(
    project: ProjectState | None, approved: ChangeRequestApproved, change_request_id: str
) -> ProjectPhaseChanged | ProjectDetailsAmended:
    """The project's event for an approved change request (intake's reaction appends it)."""
    if project is None:
        raise NotFound("项目不存在", field="project_id", reason="项目不存在")
    reason = f"变更申请 {change_request_id}({KIND_NAMES[approved.kind]})已批准:{approved.reason}"
    return _apply(project, approved.kind, approved, reason=reason, change_request_id=change_request_id)


def _apply(
    project: ProjectState, kind: ChangeRequestKind, details: ChangeDetails, *, reason: str, change_request_id: str
) -> ProjectPhaseChanged | ProjectDetailsAmended:
    if kind in (K.PLANNED_DATES, K.PLANNED_INVESTMENT):
        fields = details.model_dump(
            exclude_none=True,
            include={"planned_start", "planned_completion", "total_investment", "annual_planned_investment"},
        )
        amended = decide_amend_project(project, AmendProject(project_id=project.id, **fields))
        return amended.model_copy(update={"change_request_id": change_request_id})
    if kind == K.RESUME:
        if project.phase != Phase.SUSPENDED or project.suspended_from is None:
            raise Conflict("项目未暂停,无需恢复", field="phase", reason="项目未暂停")
        to = project.suspended_from
    elif kind in TARGET_PHASE:
        to = TARGET_PHASE[kind]
    else:
        raise DomainError(f"变更类型 {kind.value} 不由项目台账执行", field="kind")
    changed = decide_change_phase(project, ChangePhase(project_id=project.id, phase=to, reason=reason or "变更申请"))
    return changed.model_copy(update={"change_request_id": change_request_id})
