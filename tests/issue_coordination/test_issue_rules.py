"""Deadline rules and the escalation ladder without servers: the most specific rule, versions that never move a
deadline already given, exactly the next rung with its deadline and Chinese reason, nothing for a stopped clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.issue_coordination.calendar_data import official_days
from services.issue_coordination.deadlines import (
    RuleVersion,
    calendar_of,
    effective_deadline,
    rules_deadline,
    working_days_for,
)
from services.issue_coordination.escalation import IssueClock, due_escalation, manual_escalation, run_moment
from services.issue_coordination.work_calendar import Pause, WorkCalendar
from shared.catalogue.issue_rules import CalendarDays, DeadlineRule, EscalationStep, IssueRules
from shared.clock import CHINA
from shared.domain_errors import Conflict, Invalid

CALENDARS = [WorkCalendar(1, date(2000, 1, 1), official_days(2024, 2026))]
LADDER_RULES = IssueRules(
    default_working_days=3,
    deadlines=[DeadlineRule(priority="urgent", working_days=1)],
    escalation=[
        EscalationStep(level="hq", working_days=2),
        EscalationStep(level="leader", working_days=2),
        EscalationStep(level="mayor", working_days=3),
    ],
    mayor_org_id="city-mayor",
)
RULES = [RuleVersion(1, date(2000, 1, 1), LADDER_RULES)]


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


def assigned(at: str, **changes: object) -> IssueClock:
    since = cst(at)
    given = rules_deadline(category="other", priority="normal", since=since, rule_versions=RULES, calendars=CALENDARS)
    issue = IssueClock(
        issue_id="i-1",
        status="accepted",
        level="lead_unit",
        deadline=given.deadline,
        deadline_since=since,
        calendar_version=given.calendar_version,
        sponsor_org_id="leader-wang",
    )
    return replace(issue, **changes)  # type: ignore[arg-type]


def climbed(issue: IssueClock, at: datetime) -> IssueClock:
    step = due_escalation(issue, at, RULES, CALENDARS)
    assert step is not None
    return replace(
        issue, level=step.to_level, deadline=step.deadline, deadline_since=step.since,
        calendar_version=step.calendar_version,
    )  # fmt: skip


def test_the_most_specific_rule_wins() -> None:
    rules = IssueRules(
        default_working_days=10,
        deadlines=[
            DeadlineRule(priority="urgent", working_days=3),
            DeadlineRule(category="land", working_days=15),
            DeadlineRule(category="land", priority="urgent", working_days=5),
        ],
    )
    assert working_days_for(rules, "land", "urgent") == 5
    assert working_days_for(rules, "land", "normal") == 15
    assert working_days_for(rules, "funding", "urgent") == 3
    assert working_days_for(rules, "funding", "normal") == 10


def test_rule_data_is_checked() -> None:
    with pytest.raises(ValidationError, match="相同"):
        IssueRules(
            deadlines=[DeadlineRule(category="land", working_days=3), DeadlineRule(category="land", working_days=4)]
        )
    with pytest.raises(ValidationError, match="顺序"):
        IssueRules(
            escalation=[EscalationStep(level="leader", working_days=3), EscalationStep(level="hq", working_days=3)]
        )
    with pytest.raises(ValidationError, match="至少填一个"):
        DeadlineRule(working_days=3)
    with pytest.raises(ValidationError):
        DeadlineRule.model_validate({"category": "land", "working_days": "3"})
    with pytest.raises(ValidationError):
        IssueRules.model_validate({"escalation": [{"level": "lead_unit", "working_days": 3}]})


def test_a_deadline_records_its_versions_and_a_later_version_never_moves_it() -> None:
    since = cst("2026-09-28T10:00")
    first = rules_deadline(category="other", priority="normal", since=since, rule_versions=RULES, calendars=CALENDARS)
    assert (first.deadline, first.working_days, first.rule_version, first.calendar_version) == (
        cst("2026-10-08T18:00"), 3, 1, 1,
    )  # fmt: skip
    # A later calendar (effective before the assignment) makes 10-08 a holiday, a later rule gives 10 days:
    extra = official_days(2024, 2026).model_copy(
        update={"holidays": [*official_days(2026).holidays, date(2026, 10, 8)]}
    )
    calendars = [*CALENDARS, WorkCalendar(2, date(2026, 9, 1), extra)]
    rules = [*RULES, RuleVersion(2, date(2026, 9, 1), IssueRules(default_working_days=10))]
    # ... the deadline given stays as recorded, and its pause arithmetic uses calendar 1 ...
    kept = calendar_of(calendars, first.calendar_version, since)
    assert kept.version == 1
    assert effective_deadline(first.deadline, since=since, pauses=[], calendar=kept) == cst("2026-10-08T18:00")
    # ... while a new deadline uses the new versions.
    new = rules_deadline(category="other", priority="normal", since=since, rule_versions=rules, calendars=calendars)
    assert (new.rule_version, new.calendar_version, new.working_days) == (2, 2, 10)
    assert new.deadline == cst("2026-10-19T18:00")  # 9-29, 9-30, 10-09, 10-10, 10-12 .. 10-16, 10-19


def test_no_rules_in_force_is_a_clear_refusal() -> None:
    with pytest.raises(Conflict, match="尚无生效的期限规则"):
        rules_deadline(
            category="other", priority="normal", since=cst("1999-06-01T10:00"), rule_versions=RULES,
            calendars=CALENDARS,
        )  # fmt: skip


def test_the_ladder_across_the_national_day_week_with_a_make_up_saturday() -> None:
    issue = assigned("2026-09-28T10:00")  # 3 working days: 9-29, 9-30, 10-08
    assert issue.deadline == cst("2026-10-08T18:00")
    assert due_escalation(issue, cst("2026-10-08T18:00"), RULES, CALENDARS) is None, "due at 18:00, not before"
    assert due_escalation(issue, cst("2026-10-03T12:00"), RULES, CALENDARS) is None

    to_hq = due_escalation(issue, cst("2026-10-08T18:30"), RULES, CALENDARS)
    assert to_hq is not None
    assert (to_hq.from_level, to_hq.to_level, to_hq.step, to_hq.target_org_id) == ("lead_unit", "hq", 1, None)
    assert to_hq.deadline == cst("2026-10-10T18:00"), "10-09 and the make-up Saturday 10-10"
    assert (to_hq.rule_version, to_hq.calendar_version, to_hq.missed_deadline) == (1, 1, cst("2026-10-08T18:00"))
    assert to_hq.reason == (
        "首接责任单位办理期限 2026-10-08 18:00 已过仍未办结,升级至指挥部办公室办理,期限 2 个工作日,"
        "至 2026-10-10 18:00(期限规则第 1 版,工作日历第 1 版)"
    )
    issue = climbed(issue, cst("2026-10-08T18:30"))
    to_leader = due_escalation(issue, cst("2026-10-10T19:00"), RULES, CALENDARS)
    assert to_leader is not None and to_leader.to_level == "leader" and to_leader.target_org_id == "leader-wang"
    assert to_leader.deadline == cst("2026-10-13T18:00"), "Sunday 10-11 is off again"
    issue = climbed(issue, cst("2026-10-10T19:00"))
    to_mayor = due_escalation(issue, cst("2026-10-14T09:00"), RULES, CALENDARS)
    assert to_mayor is not None and to_mayor.to_level == "mayor" and to_mayor.target_org_id == "city-mayor"
    assert to_mayor.deadline == cst("2026-10-16T18:00")
    issue = climbed(issue, cst("2026-10-14T09:00"))
    assert due_escalation(issue, cst("2026-12-31T09:00"), RULES, CALENDARS) is None, "the mayor is the top"


def test_exactly_the_next_rung_with_the_same_answer_whenever_it_is_asked() -> None:
    issue = assigned("2026-09-28T10:00")
    late = [due_escalation(issue, cst(at), RULES, CALENDARS) for at in ("2026-10-08T18:01", "2026-11-20T10:00")]
    assert late[0] == late[1], "a run after an outage decides the same step and deadline"
    assert late[0] is not None and late[0].to_level == "hq"


def test_a_project_without_a_sponsoring_leader_passes_over_that_rung() -> None:
    issue = replace(assigned("2026-09-28T10:00"), level="hq", sponsor_org_id=None)
    step = due_escalation(issue, cst("2026-10-09T09:00"), RULES, CALENDARS)
    assert step is not None and step.to_level == "mayor" and step.skipped == ("leader",)
    assert "项目未设包保市领导,越过该层级" in step.reason


@pytest.mark.parametrize("status", ["raised", "resolved", "confirmed", "withdrawn"])
def test_nothing_is_due_for_a_stopped_clock(status: str) -> None:
    issue = assigned("2026-09-28T10:00", status=status)
    assert due_escalation(issue, cst("2026-10-20T10:00"), RULES, CALENDARS) is None


def test_waiting_for_the_raiser_stops_and_moves_the_deadline() -> None:
    issue = assigned("2026-09-28T10:00", pauses=(Pause(cst("2026-09-29T09:00")),))
    assert due_escalation(issue, cst("2026-10-20T10:00"), RULES, CALENDARS) is None, "still waiting"
    resumed = replace(issue, pauses=(Pause(cst("2026-09-29T09:00"), cst("2026-10-08T09:00")),))  # 9-29, 9-30 ends
    assert due_escalation(resumed, cst("2026-10-09T19:00"), RULES, CALENDARS) is None
    step = due_escalation(resumed, cst("2026-10-10T18:30"), RULES, CALENDARS)
    assert step is not None and step.missed_deadline == cst("2026-10-10T18:00")


def test_hq_escalates_by_hand_to_the_next_rung_from_now() -> None:
    issue = assigned("2026-09-28T10:00")
    step = manual_escalation(issue, cst("2026-09-29T11:00"), "企业反映问题紧急", RULES, CALENDARS)
    assert (step.to_level, step.since, step.missed_deadline) == ("hq", cst("2026-09-29T11:00"), None)
    assert step.deadline == cst("2026-10-08T18:00")  # 9-30, 10-08
    assert step.reason.startswith("指挥部办公室手动升级:企业反映问题紧急;由首接责任单位升级至指挥部办公室办理")
    with pytest.raises(Conflict, match="没有更高的层级") as top:
        manual_escalation(replace(issue, level="mayor"), cst("2026-09-29T11:00"), "再升级", RULES, CALENDARS)
    assert top.value.extra == {"current_status": "accepted"}
    with pytest.raises(Conflict):
        manual_escalation(replace(issue, status="resolved"), cst("2026-09-29T11:00"), "再升级", RULES, CALENDARS)


def test_a_run_is_for_a_day_up_to_the_platforms_today() -> None:
    now = cst("2026-10-08T10:00")
    assert run_moment(date(2026, 10, 8), now) == now
    assert run_moment(date(2026, 10, 7), now) == cst("2026-10-07T23:59:59.999999")
    with pytest.raises(Invalid) as refused:
        run_moment(date(2026, 10, 9), now)
    assert refused.value.field == "day"


def test_a_calendar_without_working_days_is_a_refusal_not_a_crash() -> None:
    sundays = [date(2030, 1, 6) + timedelta(weeks=i) for i in range(600)]
    never = WorkCalendar(2, date(2030, 1, 1), CalendarDays(rest_weekdays=[1, 2, 3, 4, 5, 6], holidays=sundays))
    with pytest.raises(Conflict, match="没有工作日"):
        rules_deadline(
            category="other", priority="normal", since=cst("2030-01-02T10:00"), rule_versions=RULES,
            calendars=[*CALENDARS, never],
        )  # fmt: skip
