"""scheduling's decisions without servers: each refusal names its kind and field; a decision may find nothing to do."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from services.scheduling import domain, domain_rules
from services.scheduling.commands import (
    ApproveBaseline,
    CompleteMilestone,
    DecideExemption,
    DraftPlan,
    PublishRules,
    Rebaseline,
    RecordAttendance,
    RecordDecision,
    RequestExemption,
    ReviseDraft,
    ScheduleMeeting,
)
from services.scheduling.domain import ExemptionState, MilestoneState, PlanState
from services.scheduling.domain_meetings import (
    MeetingState,
    decide_attendance,
    decide_decision,
    decide_schedule,
)
from services.scheduling.domain_monitoring import (
    LightState,
    MonitoringDayState,
    RecordLight,
    decide_item,
    decide_light,
    item_key,
)
from services.scheduling.domain_rules import RuleSetState
from services.scheduling.lights import LightResult
from services.scheduling.policies import can_read_project, can_write_plan
from shared.auth import Principal
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import Category, Phase
from shared.catalogue.scheduling import (
    Attendee,
    Colour,
    DimensionLight,
    ExemptionApproved,
    ExemptionRejected,
    ExemptionRequested,
    ExemptionScope,
    MeetingKind,
    MilestoneCompleted,
    MilestoneOverdueFlagged,
    MilestoneRebaselined,
    MonitoringCompleted,
    PlanBaselineApproved,
    Rules,
    RuleVersionPublished,
)
from shared.domain_errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from shared.envelope import Role, seal_envelope
from shared.project_directory import ProjectEntry

MONTHS = [Decimal(100)] * 12


def milestone(mid: str = "start", planned: date = date(2024, 4, 30), **extra: Any) -> dict[str, Any]:
    return {"milestone_id": mid, "name": "开工", "planned_date": planned, "unit_id": "unit-a", **extra}


def plan(*, baselined: bool = False, milestones: list[dict[str, Any]] | None = None, **extra: Any) -> PlanState:
    return PlanState(
        id="p1-y2024", project_id="p1", year=2024, annual_target_investment=Decimal(1200), yearly_targets="",
        monthly_investment=MONTHS, baselined=baselined, drafted_by="unit-a",
        updated_at=datetime(2024, 1, 1, tzinfo=UTC),
        milestones=[MilestoneState(**m) for m in (milestones if milestones is not None else [milestone()])], **extra,
    )  # fmt: skip


def draft(**overrides: Any) -> DraftPlan:
    body: dict[str, Any] = {"project_id": "p1", "year": 2024, "annual_target_investment": Decimal(1200),
                            "monthly_investment": MONTHS, "milestones": [milestone()]}  # fmt: skip
    return DraftPlan(**{**body, **overrides})


def refused(kind: type[DomainError], field: str | None, call: Any, *args: Any) -> None:
    with pytest.raises(kind) as caught:
        call(*args)
    assert type(caught.value) is kind and caught.value.field == field, (caught.value.field, caught.value.detail)


# -- plans ------------------------------------------------------------------------------------------------------


def test_draft_checks_the_content_and_refuses_a_second_plan() -> None:
    event = domain.decide_draft(None, draft())
    assert (event.project_id, event.year, event.milestones[0].milestone_id) == ("p1", 2024, "start")
    refused(Conflict, "year", domain.decide_draft, plan(), draft())
    refused(Invalid, "monthly_investment", domain.decide_draft, None, draft(monthly_investment=[Decimal(200)] * 12))
    refused(Invalid, "milestones.1.milestone_id", domain.decide_draft, None, draft(milestones=[milestone()] * 2))
    far = draft(milestones=[milestone(planned=date(2031, 1, 1))])
    refused(Invalid, "milestones.0.planned_date", domain.decide_draft, None, far)


def test_revise_only_a_draft() -> None:
    revise = ReviseDraft(plan_id="p1-y2024", annual_target_investment=Decimal(1300), monthly_investment=MONTHS)
    assert domain.decide_revise(plan(), revise).annual_target_investment == Decimal(1300)
    refused(NotFound, "plan_id", domain.decide_revise, None, revise)
    refused(Conflict, "plan_id", domain.decide_revise, plan(baselined=True), revise)


def test_baseline_freezes_dates_once_and_needs_milestones() -> None:
    cmd = ApproveBaseline(plan_id="p1-y2024", note="同意")
    event = domain.decide_baseline(plan(), cmd)
    assert event.milestone_dates == {"start": date(2024, 4, 30)} and event.note == "同意"
    refused(Conflict, "plan_id", domain.decide_baseline, plan(baselined=True), cmd)
    refused(Invalid, "milestones", domain.decide_baseline, plan(milestones=[]), cmd)


def test_rebaseline_refusals() -> None:
    cmd = Rebaseline(plan_id="p1-y2024", milestone_id="start", to_date=date(2024, 6, 15), reason="用地手续延迟")
    event = domain.decide_rebaseline(plan(baselined=True), cmd)
    assert (event.from_date, event.to_date) == (date(2024, 4, 30), date(2024, 6, 15))
    refused(NotFound, "milestone_id", domain.decide_rebaseline, plan(baselined=True), cmd.model_copy(
        update={"milestone_id": "nope"}))  # fmt: skip
    refused(Conflict, "plan_id", domain.decide_rebaseline, plan(), cmd)
    done = plan(baselined=True, milestones=[milestone(done_on=date(2024, 4, 1))])
    refused(Conflict, "milestone_id", domain.decide_rebaseline, done, cmd)
    same = cmd.model_copy(update={"to_date": date(2024, 4, 30)})
    refused(Invalid, "to_date", domain.decide_rebaseline, plan(baselined=True), same)


def test_complete_refuses_the_future_and_a_second_completion() -> None:
    cmd = CompleteMilestone(plan_id="p1-y2024", milestone_id="start", done_on=date(2024, 5, 2))
    assert domain.decide_complete(plan(), cmd, today=date(2024, 5, 2)).done_on == date(2024, 5, 2)
    refused(Invalid, "done_on", domain.decide_complete, plan(), cmd, date(2024, 5, 1))
    done = plan(milestones=[milestone(done_on=date(2024, 4, 1))])
    refused(Conflict, "milestone_id", domain.decide_complete, done, cmd, date(2024, 5, 2))
    refused(NotFound, "plan_id", domain.decide_complete, None, cmd, date(2024, 5, 2))


def test_exemption_requests_need_a_target_a_period_in_order_and_evidence() -> None:
    def request(**overrides: Any) -> RequestExemption:
        body: dict[str, Any] = {"plan_id": "p1-y2024", "scope": ExemptionScope.PERIOD, "reason": "汛期停工",
                                "period_start": date(2024, 6, 1), "period_end": date(2024, 6, 10),
                                "evidence": ["防汛指挥部通知"]}  # fmt: skip
        return RequestExemption(**{**body, **overrides})

    assert domain.decide_request_exemption(plan(), request(), "e1").exemption_id == "e1"
    milestone_scope = request(scope=ExemptionScope.MILESTONE, milestone_id="nope")
    refused(Invalid, "milestone_id", domain.decide_request_exemption, plan(), milestone_scope, "e1")
    refused(Invalid, "period_start", domain.decide_request_exemption, plan(), request(period_start=None), "e1")
    reversed_period = request(period_start=date(2024, 6, 10), period_end=date(2024, 6, 1))
    refused(Invalid, "period_end", domain.decide_request_exemption, plan(), reversed_period, "e1")
    refused(Invalid, "evidence", domain.decide_request_exemption, plan(), request(evidence=[]), "e1")


def test_an_exemption_is_decided_once() -> None:
    requested = ExemptionState(exemption_id="e1", scope=ExemptionScope.PERIOD, reason="汛期停工")
    state = plan(exemptions=[requested])
    approve = DecideExemption(plan_id="p1-y2024", exemption_id="e1", approve=True, note="属实")
    assert isinstance(domain.decide_exemption(state, approve), ExemptionApproved)
    assert isinstance(domain.decide_exemption(state, approve.model_copy(update={"approve": False})), ExemptionRejected)
    refused(NotFound, "exemption_id", domain.decide_exemption, state, approve.model_copy(update={"exemption_id": "x"}))
    decided = plan(exemptions=[requested.model_copy(update={"status": "approved"})])
    refused(Conflict, "exemption_id", domain.decide_exemption, decided, approve)


# -- rules ------------------------------------------------------------------------------------------------------


def test_rules_keep_red_beyond_yellow_and_number_versions() -> None:
    first = domain_rules.decide_default_rules(None)
    assert first is not None and first.version == 1
    assert domain_rules.decide_default_rules(RuleSetState(versions=[first])) is None  # nothing to do
    cmd = PublishRules(effective_from=date(2025, 1, 1), rules=Rules(yellow_points_behind=5))
    assert domain_rules.decide_publish_rules(RuleSetState(versions=[first]), cmd).version == 2
    for field, rules in [
        ("rules.red_points_behind", Rules(yellow_points_behind=40)),
        ("rules.late_start_red_months", Rules(late_start_yellow_months=4)),
        ("rules.report_late_red_days", Rules(report_late_yellow_days=30)),
        ("rules.report_missing_red_weeks", Rules(report_missing_yellow_weeks=4)),
    ]:
        refused(Invalid, field, domain_rules.decide_publish_rules, None, cmd.model_copy(update={"rules": rules}))


# -- meetings ---------------------------------------------------------------------------------------------------

SCHEDULE = ScheduleMeeting(kind=MeetingKind.MONTHLY, title="调度会", scheduled_for=datetime(2024, 5, 8, tzinfo=UTC),
                           programme_id="prog")  # fmt: skip


def test_meetings_exist_once_and_decisions_once() -> None:
    event = decide_schedule(None, SCHEDULE, [], date(2024, 5, 1))
    meeting = MeetingState(id="m1", **event.model_dump())
    refused(Conflict, "meeting_id", decide_schedule, meeting, SCHEDULE, [], date(2024, 5, 1))
    attend = RecordAttendance(meeting_id="m1", attendees=[Attendee(org_id="unit-a")])
    refused(NotFound, "meeting_id", decide_attendance, None, attend)
    decision = RecordDecision(meeting_id="m1", text="月底前完成", owner_unit_id="unit-a", deadline=date(2024, 5, 31))
    # Work goes only to a unit that attends or answers for the project concerned.
    refused(Invalid, "owner_unit_id", decide_decision, meeting, decision, "d1")
    refused(Invalid, "owner_unit_id", decide_decision, meeting, decision, "d1", "unit-b")
    assert decide_decision(meeting, decision, "d1", "unit-a").owner_unit_id == "unit-a"
    meeting = meeting.model_copy(update={"attendees": [Attendee(org_id="unit-a")]})
    recorded = decide_decision(meeting, decision, "d1")
    assert recorded.decision_id == "d1" and "meeting_id" not in recorded.model_dump()
    again = meeting.model_copy(update={"decisions": [recorded]})
    refused(Conflict, "decision_id", decide_decision, again, decision, "d1")


# -- monitoring and lights --------------------------------------------------------------------------------------


def test_an_item_the_day_has_is_nothing_to_do() -> None:
    flag = MilestoneOverdueFlagged(day=date(2024, 5, 2), project_id="p1", plan_id="p1-y2024", milestone_id="start",
                                   name="开工", due=date(2024, 4, 30), unit_id="unit-a", days_overdue=2)  # fmt: skip
    assert decide_item(None, flag) is flag
    day = MonitoringDayState(day="d20240502", emitted=[item_key(flag)])
    assert decide_item(day, flag) is None
    done = MonitoringCompleted(day=date(2024, 5, 2), items=1, lights_changed=0)
    assert decide_item(day, done) is done
    assert decide_item(day.model_copy(update={"emitted": [*day.emitted, "completed"]}), done) is None


def light(colour: Colour = Colour.GREEN, reporting: Colour = Colour.GREEN) -> LightResult:
    green = DimensionLight(colour=Colour.GREEN)
    return LightResult(colour, green, DimensionLight(colour=colour), DimensionLight(colour=reporting), green, 1.0,
                       0.0, [])  # fmt: skip


def on_record(state: LightState | None, cmd: RecordLight) -> LightState:
    event = decide_light(state, cmd)
    assert event is not None
    return LightState(project_id=cmd.project_id, current=event)


def test_a_light_is_recorded_when_it_changes_also_on_the_same_day() -> None:
    may2, may3 = date(2024, 5, 2), date(2024, 5, 3)
    state = on_record(None, RecordLight("p1", may2, light(), 1))
    assert decide_light(state, RecordLight("p1", may2, light(), 1)) is None  # unchanged: nothing to do
    assert decide_light(state, RecordLight("p1", may3, light(), 1)) is None  # a new day alone changes nothing
    # A report arrives on the same day: the re-evaluation is recorded, with the colour it replaces.
    yellow = decide_light(state, RecordLight("p1", may2, light(Colour.YELLOW), 1))
    assert yellow is not None and (yellow.colour, yellow.previous_colour, yellow.as_of) == (
        Colour.YELLOW, Colour.GREEN, may2,
    )  # fmt: skip
    # A dimension's colour or the rule version alone is a change too.
    assert decide_light(state, RecordLight("p1", may2, light(reporting=Colour.YELLOW), 1)) is not None
    assert decide_light(state, RecordLight("p1", may2, light(), 2)) is not None
    # An evaluation for a day before the light on record is stale: nothing to do.
    later = on_record(state, RecordLight("p1", may3, light(Colour.RED), 1))
    assert decide_light(later, RecordLight("p1", may2, light(Colour.YELLOW), 1)) is None


# -- policies ---------------------------------------------------------------------------------------------------


def who(org_id: str, role: Role) -> Principal:
    return Principal(org_id=org_id, role=role, name=org_id, credential_id="c1")


def test_units_write_their_own_projects_and_leaders_read_what_they_sponsor() -> None:
    entry = ProjectEntry(project_id="p1", name="项目", programme_id="prog", category=Category.INDUSTRIAL,
                         phase=Phase.PRELIMINARY, unit_id="unit-a", sponsor_leader_id="leader-a")  # fmt: skip
    can_write_plan(who("unit-a", Role.UNIT), entry)
    can_write_plan(who("hq", Role.HQ), entry)
    refused(Forbidden, None, can_write_plan, who("unit-b", Role.UNIT), entry)
    refused(Forbidden, None, can_write_plan, who("leader-a", Role.LEADER), entry)
    can_read_project(who("leader-a", Role.LEADER), entry)
    refused(Forbidden, None, can_read_project, who("leader-b", Role.LEADER), entry)
    refused(Forbidden, None, can_read_project, who("unit-b", Role.UNIT), entry)


def test_rule_versions_are_chosen_by_effective_date() -> None:
    v1 = RuleVersionPublished(version=1, effective_from=date(2000, 1, 1), rules=Rules())
    v2 = RuleVersionPublished(version=2, effective_from=date(2024, 7, 1), rules=Rules(yellow_points_behind=5))
    rules = RuleSetState(versions=[v1, v2])
    assert rules.applicable(date(2024, 6, 30)) == v1 and rules.applicable(date(2024, 7, 1)) == v2


def test_evolving_a_plan_never_changes_the_state_it_started_from() -> None:
    """A cached plan state stays as it was whatever is folded onto it (evolve_plan copies what each change mutates)."""

    def recorded(version: int, payload: Any) -> SimpleNamespace:
        entry = CATALOGUE.entry_for(payload)
        envelope = seal_envelope({
            "id": uuid.uuid4(), "type": entry.name, "schema_version": entry.schema_version, "aggregate_type": "plan",
            "aggregate_id": "p1-y2024", "version": version, "occurred_at": datetime(2024, 1, version, tzinfo=UTC),
            "recorded_at": datetime(2024, 1, version, tzinfo=UTC), "actor": {"org_id": "unit-a", "role": "unit"},
            "correlation_id": "c", "prev_hash": None, "payload": payload.model_dump(mode="json"),
        })  # fmt: skip
        return SimpleNamespace(envelope=envelope)

    drafted = domain.decide_draft(None, draft(milestones=[milestone(), milestone("done", date(2024, 9, 30))]))
    changes = [
        PlanBaselineApproved(milestone_dates={"start": date(2024, 5, 1)}, monthly_investment=MONTHS),
        MilestoneRebaselined(milestone_id="start", from_date=date(2024, 5, 1), to_date=date(2024, 6, 1), reason="延迟"),
        MilestoneCompleted(milestone_id="start", done_on=date(2024, 6, 2)),
        ExemptionRequested(exemption_id="e1", scope=ExemptionScope.MILESTONE, milestone_id="done", reason="汛期"),
        ExemptionApproved(exemption_id="e1", note="同意"),
        MilestoneRebaselined(milestone_id="start", from_date=date(2024, 6, 1), to_date=date(2024, 6, 2), reason="再调"),
    ]
    state = domain.evolve_plan(None, recorded(1, drafted))
    for version, change in enumerate(changes, start=2):
        before = state.model_dump()
        evolved = domain.evolve_plan(state, recorded(version, change))
        assert state.model_dump() == before, type(change).__name__
        state = evolved
    start = state.milestone("start")
    assert start is not None and start.done_on == date(2024, 6, 2) and len(start.rebaselines) == 2
    assert [e.status for e in state.exemptions] == ["approved"]
