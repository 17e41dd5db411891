"""Change requests (变更申请) as pure decisions: what each kind must name, filing into a slot, hq's decision, and the
project event an approval becomes (the same rules a direct change obeys). No servers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from services.intake.commands_change_requests import DecideChangeRequest, FileChangeRequest
from services.intake.domain import evolve_project
from services.intake.domain_change_requests import (
    ChangeRequestState,
    change_request_id,
    decide_apply,
    decide_change_request,
    decide_file,
    evolve_change_request,
)
from shared.catalogue.intake import (
    ChangeRequestApproved,
    ChangeRequestKind,
    ChangeRequestRejected,
    Phase,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
)
from shared.domain_errors import Conflict, DomainError, Invalid
from tests.intake.test_domain import PID, envelope, project

K = ChangeRequestKind
MILESTONE = {"plan_id": "p-1-y2024", "milestone_id": "m", "to_date": "2024-09-01"}


def filing(kind: K, **details: Any) -> FileChangeRequest:
    return FileChangeRequest(project_id=PID, kind=kind, reason="理由充分", evidence=["att-1"], **details)


def filed(kind: K, **details: Any) -> ChangeRequestState:
    cr_id = change_request_id(PID, kind, 1)
    event = decide_file(None, filing(kind, **details), project())
    return evolve_change_request(None, envelope("ChangeRequestFiled", event, aggregate_id=cr_id))


def approve(request: ChangeRequestState, **state: Any) -> ChangeRequestApproved:
    cmd = DecideChangeRequest(change_request_id=request.id, decision="approve", reason="同意")
    decided = decide_change_request(request, cmd, project(**state))
    assert isinstance(decided, ChangeRequestApproved)
    return decided


@pytest.mark.parametrize(
    ("kind", "details", "field"),
    [
        (K.REBASELINE_MILESTONE, {"plan_id": "p-1-y2024", "milestone_id": "start"}, "to_date"),
        (K.REBASELINE_MILESTONE, {**MILESTONE, "planned_start": "2024-09-01"}, "planned_start"),
        (K.PLANNED_DATES, {}, "planned_start"),
        (K.PLANNED_DATES, {"planned_completion": "2024-01-01"}, "planned_completion"),  # before the start
        (K.PLANNED_INVESTMENT, {"annual_planned_investment": "20000"}, "annual_planned_investment"),  # > total
        (K.CANCEL, {"to_date": "2024-09-01"}, "to_date"),
    ],
)
def test_a_request_names_what_its_kind_needs_and_nothing_else(kind: K, details: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as refused:
        decide_file(None, filing(kind, **details), project())
    assert refused.value.field == field


def test_a_slot_holding_a_pending_request_refuses_the_filing_naming_it() -> None:
    pending = filed(K.CANCEL)
    with pytest.raises(Conflict) as refused:
        decide_file(pending, filing(K.CANCEL), project())
    assert refused.value.field == "kind" and refused.value.extra["pending"] == pending.id


def test_each_approved_kind_becomes_the_project_event_a_direct_change_would_be() -> None:
    cancel = decide_apply(project(), approve(filed(K.CANCEL)), "cr-1")
    assert isinstance(cancel, ProjectPhaseChanged) and cancel.to_phase == Phase.CANCELLED
    assert cancel.change_request_id == "cr-1" and "cr-1" in cancel.reason and "同意" in cancel.reason
    started = {"phase": Phase.UNDER_CONSTRUCTION}
    suspend = decide_apply(project(**started), approve(filed(K.SUSPEND), **started), "cr-2")
    assert isinstance(suspend, ProjectPhaseChanged) and suspend.to_phase == Phase.SUSPENDED
    stopped = {"phase": Phase.SUSPENDED, "suspended_from": Phase.UNDER_CONSTRUCTION}
    with pytest.raises(Conflict):  # a resume is filed for a suspended project only
        decide_file(None, filing(K.RESUME), project())
    approved_resume = ChangeRequestApproved(project_id=PID, kind=K.RESUME, reason="同意复工")
    resume = decide_apply(project(**stopped), approved_resume, "cr-3")
    assert isinstance(resume, ProjectPhaseChanged) and resume.to_phase == Phase.UNDER_CONSTRUCTION
    dates = decide_apply(project(), approve(filed(K.PLANNED_DATES, planned_start="2024-06-01")), "cr-4")
    assert isinstance(dates, ProjectDetailsAmended) and dates.planned_start == date(2024, 6, 1)
    assert dates.planned_completion is None and dates.change_request_id == "cr-4"
    money = decide_apply(project(), approve(filed(K.PLANNED_INVESTMENT, total_investment="12000")), "cr-5")
    assert isinstance(money, ProjectDetailsAmended) and money.total_investment == Decimal(12000)
    # The amendment folds into the project without its request id becoming a project field.
    folded = evolve_project(project(), envelope("ProjectDetailsAmended", money, version=2))
    assert folded.total_investment == Decimal(12000) and "change_request_id" not in folded.model_dump()
    # A milestone is scheduling's to move: intake has no project event for it.
    milestone = approve(filed(K.REBASELINE_MILESTONE, **MILESTONE))
    with pytest.raises(DomainError):
        decide_apply(project(), milestone, "cr-6")


def test_hq_decides_once_and_cannot_approve_what_the_project_has_outgrown() -> None:
    request = filed(K.SUSPEND)
    with pytest.raises(Conflict) as outgrown:
        approve(request, phase=Phase.CANCELLED)
    assert outgrown.value.field == "kind"
    reject = DecideChangeRequest(change_request_id=request.id, decision="reject", reason="不同意")
    rejected = decide_change_request(request, reject, project())
    assert isinstance(rejected, ChangeRequestRejected)
    decided = evolve_change_request(request, envelope("ChangeRequestRejected", rejected, version=2,
                                                      aggregate_id=request.id))  # fmt: skip
    assert decided.status == "rejected" and decided.decision_reason == "不同意" and decided.decided_by == "hq"
    with pytest.raises(Conflict):
        decide_change_request(decided, reject, project())
