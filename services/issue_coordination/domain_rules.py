"""Calendar and rule versions as aggregates (`work_calendar`, `issue_rule_set`): fold and publish. Pure.

Each is one aggregate (one id) whose events are its versions, numbered 1, 2, ... in publishing order. A version is
never changed; a new one is in force for deadlines that start on or after its `effective_from` day.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from services.issue_coordination.calendar_data import SEEDED_VERSIONS
from services.issue_coordination.commands_rules import PublishCalendar, PublishIssueRules
from services.issue_coordination.deadlines import RuleVersion
from services.issue_coordination.versions import next_number
from services.issue_coordination.work_calendar import WorkCalendar
from shared.catalogue.issue_rules import CalendarDays, CalendarVersionPublished, IssueRules, IssueRulesPublished
from shared.domain_errors import invalid

CALENDAR_ID = "default"
RULE_SET_ID = "default"
DEFAULT_RULES_NOTE = "默认期限规则(一般 10 个工作日,紧急 3 个;逐级上报:指挥部办公室 5、包保市领导 5、市长 10 个工作日)"


class CalendarState(BaseModel):
    versions: list[CalendarVersionPublished] = Field(default_factory=list)

    def calendars(self) -> list[WorkCalendar]:
        return [WorkCalendar(v.version, v.effective_from, v.days) for v in self.versions]


class IssueRuleSetState(BaseModel):
    versions: list[IssueRulesPublished] = Field(default_factory=list)

    def rule_versions(self) -> list[RuleVersion]:
        return [RuleVersion(v.version, v.effective_from, v.rules) for v in self.versions]


def evolve_calendar(state: CalendarState | None, _: object, published: BaseModel | None) -> CalendarState:
    assert isinstance(published, CalendarVersionPublished)
    return CalendarState(versions=[*(state.versions if state else []), published])


def evolve_rule_set(state: IssueRuleSetState | None, _: object, published: BaseModel | None) -> IssueRuleSetState:
    assert isinstance(published, IssueRulesPublished)
    return IssueRuleSetState(versions=[*(state.versions if state else []), published])


def decide_publish_calendar(state: CalendarState | None, cmd: PublishCalendar) -> CalendarVersionPublished:
    versions = state.versions if state else []
    latest = versions[-1].days if versions else CalendarDays()
    years = {d.year for d in [*cmd.holidays, *cmd.make_up_working_days]}
    kept_off = [d for d in latest.holidays if d.year not in years] if cmd.keep_other_years else []
    kept_on = [d for d in latest.make_up_working_days if d.year not in years] if cmd.keep_other_years else []
    try:
        days = CalendarDays(
            rest_weekdays=cmd.rest_weekdays if cmd.rest_weekdays is not None else latest.rest_weekdays,
            holidays=sorted({*kept_off, *cmd.holidays}),
            make_up_working_days=sorted({*kept_on, *cmd.make_up_working_days}),
            workday_end_hour=_given(cmd.workday_end_hour, latest.workday_end_hour),
            workday_end_minute=_given(cmd.workday_end_minute, latest.workday_end_minute),
        )
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise invalid("rest_weekdays" if "rest_weekdays" in reason else "make_up_working_days", reason) from None
    return CalendarVersionPublished(
        version=next_number(versions), effective_from=cmd.effective_from, days=days, note=cmd.note
    )


def decide_publish_issue_rules(state: IssueRuleSetState | None, cmd: PublishIssueRules) -> IssueRulesPublished:
    versions = state.versions if state else []
    return IssueRulesPublished(
        version=next_number(versions), effective_from=cmd.effective_from, rules=cmd.rules, note=cmd.note
    )


def decide_seed_calendar(state: CalendarState | None, index: int) -> CalendarVersionPublished | None:
    """The `index`-th seeded version (calendar_data.SEEDED_VERSIONS), when exactly the ones before it exist."""
    if len(state.versions if state else []) != index:
        return None
    effective_from, days, note = SEEDED_VERSIONS[index]
    return CalendarVersionPublished(version=index + 1, effective_from=effective_from, days=days, note=note)


def decide_default_rules(state: IssueRuleSetState | None) -> IssueRulesPublished | None:
    """Rule version 1 (the defaults), unless a version is published already."""
    if state is not None and state.versions:
        return None
    return IssueRulesPublished(
        version=1, effective_from=SEEDED_VERSIONS[0][0], rules=IssueRules(), note=DEFAULT_RULES_NOTE
    )


def _given(value: int | None, default: int) -> int:
    return default if value is None else value
