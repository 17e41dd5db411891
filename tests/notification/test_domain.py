"""Routing rules and inbox decisions, pure: conditions, the reminder cadence of a repeating flag, the version in
force on a day, the defaults covering issue 10's list, the ids that keep duplicates out."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from services.notification.commands import PublishRoutingRules
from services.notification.domain import (
    NOTIFICATION_NAMESPACE,
    NotificationFacts,
    decide_read,
    notification_id,
    read_event_id,
)
from services.notification.domain_rules import (
    RoutingRuleSetState,
    decide_default_rules,
    decide_publish,
    matching_rules,
)
from services.notification.render import ROUTABLE
from shared.catalogue.notification_rules import RoutingRule, default_rules
from shared.domain_errors import Invalid, NotFound

AT = datetime(2024, 3, 1, 9, tzinfo=UTC)


def ids(rules: list[RoutingRule]) -> list[str]:
    return [r.rule_id for r in rules]


def test_conditions_pick_the_light_rule_by_colour() -> None:
    version = decide_default_rules(None)
    assert version is not None and version.version == 1
    assert ids(matching_rules(version, "StatusLightChanged", {"colour": "red"})) == ["light-red"]
    assert ids(matching_rules(version, "StatusLightChanged", {"colour": "yellow"})) == ["light-yellow"]
    assert matching_rules(version, "StatusLightChanged", {"colour": "green"}) == []
    # A light that turned (from another colour or none) is news; one recorded again in the same colour is not.
    turned = [
        ("red", None),
        ("red", "green"),
        ("red", "yellow"),
        ("yellow", None),
        ("yellow", "green"),
        ("yellow", "red"),
    ]
    for colour, previous in turned:
        payload = {"colour": colour, "previous_colour": previous}
        assert ids(matching_rules(version, "StatusLightChanged", payload)) == [f"light-{colour}"], payload
    for colour in ("red", "yellow"):
        assert matching_rules(version, "StatusLightChanged", {"colour": colour, "previous_colour": colour}) == []
    assert ids(matching_rules(version, "MilestoneDueSoonFlagged", {"days_left": 3})) == ["milestone-due-soon"]
    assert matching_rules(version, "MilestoneDueSoonFlagged", {"days_left": 7}) == []


@pytest.mark.parametrize(("day", "notified"), [(1, True), (2, False), (5, False), (8, True), (15, True), (16, False)])
def test_an_overdue_milestone_is_one_notice_then_reminders_on_the_cadence(day: int, notified: bool) -> None:
    version = decide_default_rules(None)
    assert version is not None
    found = matching_rules(version, "MilestoneOverdueFlagged", {"days_overdue": day})
    assert (ids(found) == ["milestone-overdue"]) is notified


def test_the_version_in_force_is_the_latest_effective_on_the_day() -> None:
    first = decide_default_rules(None)
    assert first is not None
    state = RoutingRuleSetState(versions=[first])
    cmd = PublishRoutingRules(effective_from=date(2024, 6, 1), rules=default_rules()[:1], note="只通知交办")
    second = decide_publish(state, cmd, ROUTABLE)
    state = RoutingRuleSetState(versions=[first, second])
    in_force = state.in_force(date(2024, 5, 31))
    assert in_force is not None and in_force.version == 1
    in_force = state.in_force(date(2024, 6, 1))
    assert in_force is not None and in_force.version == 2 and len(in_force.rules.rules) == 1


def test_a_rule_for_an_event_that_cannot_be_routed_is_refused() -> None:
    bad = RoutingRule(rule_id="x", event_type="ProjectRegistered", recipients=["hq"], urgency="normal")  # type: ignore[list-item,arg-type]
    with pytest.raises(Invalid) as refused:
        decide_publish(None, PublishRoutingRules(effective_from=date(2024, 1, 1), rules=[bad]), ROUTABLE)
    assert refused.value.field == "rules[0].event_type"


def test_the_defaults_cover_what_issue_10_lists() -> None:
    routed = {r.event_type for r in default_rules()}
    assert routed <= ROUTABLE
    assert {"IssueAssigned", "IssueDeadlineNeared", "IssueDeadlinePassed", "IssueEscalated", "SupervisionOrderIssued",
            "SupervisionOrderReminded", "SupervisionOrderDeadlineNeared",
            "MilestoneDueSoonFlagged", "MilestoneOverdueFlagged", "ReportOverdueFlagged", "StatusLightChanged",
            "ChangeRequestApproved", "ChangeRequestRejected", "DispatchMeetingScheduled",
            "MeetingDecisionRecorded"} <= routed  # fmt: skip


def test_ids_keep_duplicates_out() -> None:
    source = uuid.uuid4()
    assert notification_id(source, "issue-assigned", "unit-b") == notification_id(source, "issue-assigned", "unit-b")
    assert notification_id(source, "issue-assigned", "unit-b") != notification_id(source, "issue-assigned", "unit-c")
    assert read_event_id("ntf-1") == read_event_id("ntf-1") != read_event_id("ntf-2")
    # A named person is part of the id; without one the id is the one notifications had before rules named people
    # (pinned: a changed id would make the reaction request an old event's notification again).
    assert notification_id(source, "report-missing", "unit-b", "联络员") != notification_id(
        source, "report-missing", "unit-b"
    )
    known = uuid.UUID("6f1c5d6e-2a8e-4b0f-9a57-7c1f1f0a5e11")
    assert (
        notification_id(known, "issue-assigned", "unit-b")
        == "ntf-" + uuid.uuid5(NOTIFICATION_NAMESPACE, f"{known}|issue-assigned|unit-b").hex
    )


def test_mark_read_once_and_only_in_ones_own_inbox() -> None:
    unread = NotificationFacts(notification_id="ntf-1", org_id="unit-b", read=False)
    decided = decide_read(unread, "unit-b", AT)
    assert decided is not None and decided.notification_id == "ntf-1" and decided.read_at == AT
    assert decide_read(unread.model_copy(update={"read": True}), "unit-b", AT) is None
    with pytest.raises(NotFound):
        decide_read(unread, "unit-a", AT)
