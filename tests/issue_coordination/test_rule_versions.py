"""Publishing calendar and rule versions without servers: numbering, next year's days beside this year's, seeds."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from services.issue_coordination.calendar_data import SEEDED_VERSIONS, official_days
from services.issue_coordination.commands_rules import PublishCalendar, PublishIssueRules
from services.issue_coordination.domain_rules import (
    CalendarState,
    IssueRuleSetState,
    decide_default_rules,
    decide_publish_calendar,
    decide_publish_issue_rules,
    decide_seed_calendar,
    evolve_calendar,
    evolve_rule_set,
)
from shared.catalogue.issue_rules import IssueRules
from shared.domain_errors import Invalid


def seeded() -> CalendarState:
    state = None
    for index in range(len(SEEDED_VERSIONS)):
        published = decide_seed_calendar(state, index)
        assert published is not None and published.version == index + 1
        state = evolve_calendar(state, uuid4(), published)
    assert state is not None
    return state


def test_seeds_are_published_once_in_order() -> None:
    state = seeded()
    assert [v.effective_from for v in state.versions] == [date(2000, 1, 1), date(2025, 1, 1)]
    assert decide_seed_calendar(state, 0) is None and decide_seed_calendar(state, 1) is None
    assert decide_seed_calendar(None, 1) is None, "the second seed waits for the first"
    assert set(state.versions[1].days.holidays) == set(official_days(2024, 2025, 2026).holidays)


def test_next_years_arrangements_keep_the_other_years() -> None:
    state = seeded()
    published = decide_publish_calendar(
        state,
        PublishCalendar(
            effective_from=date(2026, 11, 1),
            holidays=[date(2027, 1, 1)],
            make_up_working_days=[date(2027, 1, 4)],
            note="2027 年安排(节选)",
        ),
    )
    assert published.version == 3
    assert date(2027, 1, 1) in published.days.holidays and date(2026, 10, 1) in published.days.holidays
    assert date(2026, 10, 10) in published.days.make_up_working_days
    assert published.days.workday_end_hour == 18 and published.days.rest_weekdays == [6, 7]


def test_a_year_listed_again_is_replaced_and_without_keeping_only_the_listed_days_remain() -> None:
    state = seeded()
    again = decide_publish_calendar(
        state, PublishCalendar(effective_from=date(2026, 1, 1), holidays=[date(2026, 10, 8)])
    )
    assert [d for d in again.days.holidays if d.year == 2026] == [date(2026, 10, 8)]
    assert date(2024, 10, 1) in again.days.holidays
    alone = decide_publish_calendar(
        state, PublishCalendar(effective_from=date(2026, 1, 1), holidays=[date(2026, 10, 8)], keep_other_years=False)
    )
    assert alone.days.holidays == [date(2026, 10, 8)] and alone.days.make_up_working_days == []


def test_a_day_both_off_and_worked_is_refused_naming_the_field() -> None:
    with pytest.raises(Invalid) as refused:
        decide_publish_calendar(
            seeded(),
            PublishCalendar(
                effective_from=date(2026, 1, 1), holidays=[date(2026, 10, 1)], make_up_working_days=[date(2026, 10, 1)]
            ),
        )
    assert refused.value.field == "make_up_working_days" and "2026-10-01" in refused.value.reason


def test_rule_versions_are_numbered_and_the_defaults_seeded_once() -> None:
    first = decide_default_rules(None)
    assert first is not None and first.version == 1 and first.rules == IssueRules()
    state = evolve_rule_set(None, uuid4(), first)
    assert decide_default_rules(state) is None
    second = decide_publish_issue_rules(
        state, PublishIssueRules(effective_from=date(2024, 10, 1), rules=IssueRules(default_working_days=7))
    )
    assert second.version == 2
    state = evolve_rule_set(state, uuid4(), second)
    assert [v.version for v in IssueRuleSetState.model_validate_json(state.model_dump_json()).rule_versions()] == [1, 2]


def test_repeated_rest_weekdays_are_refused_naming_them() -> None:
    with pytest.raises(Invalid) as refused:
        decide_publish_calendar(seeded(), PublishCalendar(effective_from=date(2026, 1, 1), rest_weekdays=[6, 6]))
    assert refused.value.field == "rest_weekdays"
