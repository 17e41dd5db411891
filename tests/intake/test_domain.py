"""intake's decisions and folds as pure functions: `decide_x(state, cmd)` and `evolve(state, envelope)`.

No servers: states are built by hand (or folded from sealed envelopes), and every refusal names its field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from services.intake import domain, identity, progress
from services.intake.commands import (
    AmendProject,
    AmendProjectBody,
    AssignSponsor,
    AssignTaskForce,
    ChangePhase,
    IssueCredential,
    RegisterOrganisation,
    RegisterProgramme,
    RegisterProject,
    ReportProgress,
    RevokeCredential,
)
from services.intake.domain import ProjectState
from services.intake.progress import PlanMilestone
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import (
    Phase,
    ProgressReported,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
    SubProject,
)
from shared.command_bodies import command_from
from shared.domain_errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from shared.envelope import Actor, Envelope, Role, seal_envelope

NOW = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
PID = "p-1"
REGISTER: dict[str, Any] = {
    "programme_id": "prog", "name": "测试项目", "category": "industrial", "unit_id": "unit-a",
    "location": "马村区", "construction_type": "new", "total_investment": "10000",
    "annual_planned_investment": "4000", "planned_start": "2024-03-01", "planned_completion": "2025-12-31",
}  # fmt: skip
REPORT: dict[str, Any] = {
    "project_id": PID, "period_start": "2024-03-04", "period_end": "2024-03-10", "investment_this_period": "120.5",
    "image_progress_pct": "3", "milestones_done": [{"milestone_id": "m-land", "done_on": "2024-03-05"}],
}  # fmt: skip


def project(**changes: Any) -> ProjectState:
    """A registered project of unit-a, as `evolve` builds it, with `changes` applied."""
    state = domain.evolve_project(None, envelope("ProjectRegistered", ProjectRegistered(**REGISTER)))
    return state.model_copy(update=changes)


def envelope(event_type: str, payload: BaseModel, version: int = 1, aggregate_id: str = PID) -> Envelope:
    return seal_envelope(
        {
            "id": uuid.uuid4(), "type": event_type, "schema_version": 1,
            "aggregate_type": CATALOGUE.entry(event_type).aggregate_type, "aggregate_id": aggregate_id,
            "version": version, "occurred_at": NOW, "recorded_at": NOW,
            "actor": Actor(org_id="hq", role=Role.HQ), "correlation_id": "test", "prev_hash": None,
            "payload": payload.model_dump(mode="json"),
        }
    )  # fmt: skip


KNOWN = {
    "m-land": [PlanMilestone("p-y2024", 2024, "用地预审")],
    "m-start": [PlanMilestone("p-y2024", 2024, "开工")],
}


def refused(kind: type[DomainError], field: str, decide: Any, *args: Any, **kwargs: Any) -> DomainError:
    """Assert that a decision refuses with `kind`, naming `field`; a refusal has a detail for people."""
    with pytest.raises(kind) as caught:
        decide(*args, **kwargs)
    assert caught.value.field == field, caught.value
    assert caught.value.detail
    return caught.value


# -- programmes and registration ----------------------------------------------------------------------------


def test_registering_a_programme_twice_is_a_conflict_on_its_id() -> None:
    cmd = RegisterProgramme(id="prog", name="2024 三十工程", year=2024)
    event = domain.decide_register_programme(None, cmd)
    assert event.name == "2024 三十工程" and event.year == 2024
    existing = domain.evolve_programme(None, envelope("ProgrammeRegistered", event, aggregate_id="prog"))
    refused(Conflict, "id", domain.decide_register_programme, existing, cmd)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"planned_completion": "2024-02-29"}, "planned_completion"),
        ({"annual_planned_investment": "10000.0001"}, "annual_planned_investment"),
    ],
)
def test_registration_refuses_dates_out_of_order_and_annual_over_total(changes: dict[str, str], field: str) -> None:
    refused(Invalid, field, domain.decide_register_project, None, RegisterProject(**(REGISTER | changes)))


def test_registration_edges_are_accepted_and_an_existing_id_is_a_conflict() -> None:
    edges = RegisterProject(**(REGISTER | {"planned_completion": "2024-03-01", "annual_planned_investment": "10000"}))
    event = domain.decide_register_project(None, edges)
    assert event.phase == Phase.PRELIMINARY and event.planned_completion == event.planned_start
    refused(Conflict, "id", domain.decide_register_project, project(), RegisterProject(**REGISTER))


# -- commands on a project ----------------------------------------------------------------------------------

LEAD = {"name": "张三", "org_id": "unit-a"}
ON_PROJECT: list[tuple[Any, BaseModel]] = [
    (domain.decide_amend_project, AmendProject(project_id=PID, name="新名称")),
    (domain.decide_assign_task_force, AssignTaskForce(project_id=PID, task_force={"lead": LEAD})),
    (domain.decide_assign_sponsor, AssignSponsor(project_id=PID, sponsor_leader_id="leader-a")),
    (domain.decide_change_phase, ChangePhase(project_id=PID, phase="under_construction", reason="开工")),
]  # fmt: skip


@pytest.mark.parametrize(("decide", "cmd"), ON_PROJECT, ids=lambda v: getattr(v, "__name__", ""))
def test_every_command_on_a_project_that_does_not_exist_is_not_found(decide: Any, cmd: BaseModel) -> None:
    refused(NotFound, "project_id", decide, None, cmd)
    assert decide(project(), cmd) is not None  # and the same command on an existing project is decided


def test_reporting_on_a_project_that_does_not_exist_is_not_found() -> None:
    refused(
        NotFound,
        "project_id",
        progress.decide_report_progress,
        None,
        ReportProgress(**REPORT),
        report_id="r1",
        milestones=KNOWN,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": None}, "body"),  # a field sent as null changes nothing
        ({"planned_start": date(2026, 1, 1)}, "planned_completion"),  # after the project's current completion
        ({"total_investment": Decimal(3999)}, "annual_planned_investment"),  # under the current annual plan
        ({"annual_planned_investment": Decimal(10001)}, "annual_planned_investment"),
    ],
)
def test_an_amendment_is_checked_against_the_current_details(changes: dict[str, Any], field: str) -> None:
    refused(Invalid, field, domain.decide_amend_project, project(), AmendProject(project_id=PID, **changes))


def test_an_amendment_carries_only_what_was_sent_and_a_cancelled_project_cannot_be_amended() -> None:
    cmd = AmendProject(project_id=PID, annual_planned_investment=Decimal(10000), planned_completion=date(2024, 3, 1))
    event = domain.decide_amend_project(project(), cmd)
    assert event.model_dump(exclude_none=True) == {
        "annual_planned_investment": 10000,
        "planned_completion": cmd.planned_completion,
    }
    refused(Conflict, "phase", domain.decide_amend_project, project(phase=Phase.CANCELLED), cmd)


P = Phase
TRANSITIONS = [  # (from, suspended_from, to, allowed)
    (P.PRELIMINARY, None, P.UNDER_CONSTRUCTION, True), (P.PRELIMINARY, None, P.SUSPENDED, True),
    (P.PRELIMINARY, None, P.CANCELLED, True), (P.PRELIMINARY, None, P.PRELIMINARY, False),
    (P.PRELIMINARY, None, P.COMPLETED, False), (P.PRELIMINARY, None, P.IN_OPERATION, False),
    (P.UNDER_CONSTRUCTION, None, P.COMPLETED, True), (P.UNDER_CONSTRUCTION, None, P.SUSPENDED, True),
    (P.UNDER_CONSTRUCTION, None, P.IN_OPERATION, False), (P.UNDER_CONSTRUCTION, None, P.PRELIMINARY, False),
    (P.COMPLETED, None, P.IN_OPERATION, True), (P.COMPLETED, None, P.SUSPENDED, False),
    (P.COMPLETED, None, P.CANCELLED, False), (P.IN_OPERATION, None, P.CANCELLED, False),
    (P.SUSPENDED, P.UNDER_CONSTRUCTION, P.UNDER_CONSTRUCTION, True),  # resumes where it stopped
    (P.SUSPENDED, P.UNDER_CONSTRUCTION, P.CANCELLED, True), (P.SUSPENDED, P.UNDER_CONSTRUCTION, P.COMPLETED, False),
    (P.SUSPENDED, P.PRELIMINARY, P.UNDER_CONSTRUCTION, False),
    (P.CANCELLED, None, P.PRELIMINARY, False), (P.CANCELLED, None, P.UNDER_CONSTRUCTION, False),
]  # fmt: skip


@pytest.mark.parametrize(("current", "suspended_from", "to", "allowed"), TRANSITIONS)
def test_phase_changes_follow_the_chain(current: Phase, suspended_from: Phase | None, to: Phase, allowed: bool) -> None:
    state = project(phase=current, suspended_from=suspended_from)
    cmd = ChangePhase(project_id=PID, phase=to, reason="原因")
    if allowed:
        assert domain.decide_change_phase(state, cmd) == ProjectPhaseChanged(
            from_phase=current, to_phase=to, reason="原因"
        )
    else:
        error = refused(Conflict, "phase", domain.decide_change_phase, state, cmd)
        assert f"不能从 {current.value} 变更为 {to.value}" in error.reason


def test_a_progress_report_derives_the_cumulative_investment_from_the_state() -> None:
    event = progress.decide_report_progress(
        project(reported_investment=Decimal("1000.25")), ReportProgress(**REPORT), report_id="r1", milestones=KNOWN
    )
    assert event.report_id == "r1"
    assert event.cumulative_investment == Decimal("1120.75")


@pytest.mark.parametrize(
    ("changes", "kind", "field"),
    [
        ({"period_end": "2024-03-03"}, Invalid, "period_end"),
        (
            {"milestones_done": [{"milestone_id": "m-start", "done_on": "2024-03-11"}]},
            Invalid,
            "milestones_done.0.done_on",
        ),
    ],
)
def test_a_progress_report_refuses_periods_and_milestones_out_of_order(
    changes: dict[str, Any], kind: type[DomainError], field: str
) -> None:
    refused(
        kind,
        field,
        progress.decide_report_progress,
        project(),
        ReportProgress(**(REPORT | changes)),
        report_id="r1",
        milestones=KNOWN,
    )


def test_a_cancelled_project_takes_no_progress_report_and_the_edges_are_accepted() -> None:
    cmd = ReportProgress(
        **(
            REPORT
            | {"period_end": "2024-03-04", "milestones_done": [{"milestone_id": "m-start", "done_on": "2024-03-04"}]}
        )
    )
    assert progress.decide_report_progress(project(), cmd, report_id="r1", milestones=KNOWN).period_end == date(
        2024, 3, 4
    )
    refused(
        Conflict,
        "phase",
        progress.decide_report_progress,
        project(phase=Phase.CANCELLED),
        cmd,
        report_id="r1",
        milestones=KNOWN,
    )


# -- evolve -------------------------------------------------------------------------------------------------


def test_evolve_folds_decided_events_into_the_state_a_command_decides_on() -> None:
    state = project()
    amended = ProjectDetailsAmended(sub_projects=[SubProject(name="一期")], name="新名称")
    state = domain.evolve_project(state, envelope("ProjectDetailsAmended", amended, 2))
    assert state.name == "新名称" and state.total_investment == Decimal(10000)  # absent fields stay
    assert state.sub_projects == [SubProject(name="一期")] and isinstance(state.sub_projects[0], SubProject)
    for version, to in enumerate([P.UNDER_CONSTRUCTION, P.SUSPENDED], start=3):
        event = domain.decide_change_phase(state, ChangePhase(project_id=PID, phase=to, reason="原因"))
        state = domain.evolve_project(state, envelope("ProjectPhaseChanged", event, version))
    assert state.phase == P.SUSPENDED and state.suspended_from == P.UNDER_CONSTRUCTION
    # A late report does not move the last period back.
    for version, start, end in ((5, "2024-03-01", "2024-03-10"), (6, "2024-02-20", "2024-02-29")):
        cmd = ReportProgress(**(REPORT | {"period_start": start, "period_end": end, "milestones_done": []}))
        state = domain.evolve_project(
            state,
            envelope(
                "ProgressReported",
                progress.decide_report_progress(state, cmd, report_id=f"r{version}", milestones=KNOWN),
                version,
            ),
        )
    # Both await hq's review: claimed, not yet in 累计完成投资; their days merge into one covered span.
    assert state.reports == 2 and state.reported_investment == Decimal(241) and state.cumulative_investment == 0
    assert [(s.start, s.end) for s in state.periods] == [(date(2024, 2, 20), date(2024, 3, 10))]
    assert state.last_report_period_end == date(2024, 3, 10)


def test_evolve_refuses_events_that_cannot_follow() -> None:
    report = ProgressReported(report_id="r1", period_start=date(2024, 3, 1), period_end=date(2024, 3, 2),
                              investment_this_period=1, cumulative_investment=1, image_progress_pct=1)  # fmt: skip
    with pytest.raises(ValueError, match="before ProjectRegistered"):
        domain.evolve_project(None, envelope("ProgressReported", report))
    with pytest.raises(ValueError, match="cannot apply ProjectRegistered"):
        domain.evolve_project(project(), envelope("ProjectRegistered", ProjectRegistered(**REGISTER), 2))


# -- organisations and credentials --------------------------------------------------------------------------


def organisation(**credentials: bool) -> identity.OrganisationState:
    return identity.OrganisationState(id="unit-b", name="责任单位乙", role=Role.UNIT, credentials=credentials)


def test_organisations_are_registered_once_and_never_with_the_system_role() -> None:
    cmd = RegisterOrganisation(id="unit-c", name="机构丙", role=Role.UNIT)
    assert identity.decide_register_organisation(None, cmd).role == Role.UNIT
    refused(Conflict, "id", identity.decide_register_organisation, organisation(), cmd)
    system = RegisterOrganisation(id="platform", name="平台", role=Role.SYSTEM)
    refused(Invalid, "role", identity.decide_register_organisation, None, system)


def test_credentials_are_issued_to_existing_organisations_and_revoked_once() -> None:
    issue = IssueCredential(org_id="unit-b", label="备用")
    digest = "0" * 64
    refused(NotFound, "org_id", identity.decide_issue_credential, None, issue, credential_id="c1", token_sha256=digest)
    issued = identity.decide_issue_credential(organisation(), issue, credential_id="c1", token_sha256=digest)
    registered = identity.decide_register_organisation(
        None, RegisterOrganisation(id="unit-b", name="乙", role=Role.UNIT)
    )
    state = identity.evolve_organisation(None, envelope("OrganisationRegistered", registered, aggregate_id="unit-b"))
    state = identity.evolve_organisation(state, envelope("CredentialIssued", issued, 2, aggregate_id="unit-b"))
    assert state.credentials == {"c1": False}
    revoke = RevokeCredential(org_id="unit-b", credential_id="c1", reason="离职")
    revoked = identity.decide_revoke_credential(state, revoke)
    state = identity.evolve_organisation(state, envelope("CredentialRevoked", revoked, 3, aggregate_id="unit-b"))
    assert state.credentials == {"c1": True}
    refused(Conflict, "credential_id", identity.decide_revoke_credential, state, revoke)
    unknown = RevokeCredential(org_id="unit-b", credential_id="c2")
    refused(NotFound, "credential_id", identity.decide_revoke_credential, state, unknown)
    refused(NotFound, "org_id", identity.decide_revoke_credential, None, revoke)


# -- building a command from a request ----------------------------------------------------------------------


def test_a_command_from_body_and_path_keeps_what_was_sent_and_refuses_ids_that_name_nothing() -> None:
    body = AmendProjectBody(name=" 新名称 ")
    cmd = command_from(AmendProject, body, project_id=PID)
    assert cmd.project_id == PID and cmd.name == "新名称"
    assert cmd.model_fields_set == {"project_id", "name"}  # unsent fields stay unsent: an amendment changes only these
    for bad in ("*", ">", " p-1", "p.1", ""):
        with pytest.raises(NotFound) as caught:
            command_from(AmendProject, body, project_id=bad)
        assert caught.value.field == "project_id"


def test_policies_refuse_with_forbidden() -> None:
    from services.intake import policies
    from shared.auth import Principal

    unit_b = Principal(org_id="unit-b", role=Role.UNIT, name="乙", credential_id="c")
    for check in (policies.can_register, policies.can_coordinate, policies.can_manage_identity):
        with pytest.raises(Forbidden):
            check(unit_b)
    with pytest.raises(Forbidden):
        policies.can_write_project(unit_b, project())
    policies.can_write_project(unit_b, project(unit_id="unit-b"))
    with pytest.raises(Forbidden):
        policies.listing_scope(unit_b, "unit-a")
    assert policies.listing_scope(unit_b, None) == ("unit-b", None)
