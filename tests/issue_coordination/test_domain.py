"""Issues as pure state and decisions, no servers: the fold of every lifecycle event, what each status allows, and
the one item a meeting decision becomes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from services.issue_coordination.domain import IssueState, Status, decision_item_id, evolve_issue
from services.issue_coordination.domain_lifecycle import (
    decide_accept,
    decide_assign,
    decide_confirm,
    decide_provide_information,
    decide_reject,
    decide_request_information,
    decide_resolve,
    decide_track_decision,
    decide_withdraw,
)
from shared.catalogue import CATALOGUE
from shared.catalogue.issue_coordination import (
    DeadlineSource,
    InformationRequested,
    IssueAssigned,
    IssueCategory,
    IssueLevel,
    IssueRaised,
    MeetingDecisionTracked,
)
from shared.domain_errors import Conflict, NotFound
from shared.envelope import Actor, Envelope, Role, seal_envelope

T0 = datetime(2024, 3, 1, 1, tzinfo=UTC)
ISSUE = "iss-1"


class Story:
    """An issue's events one after another, each recorded an hour after the last, by the given organisation."""

    def __init__(self) -> None:
        self.state: IssueState | None = None
        self.version = 0

    def apply(self, payload: BaseModel, org: str = "hq", role: Role = Role.HQ) -> IssueState:
        self.version += 1
        at = T0 + timedelta(hours=self.version)
        name = CATALOGUE.entry_for(payload).name
        env: Envelope = seal_envelope({
            "id": uuid.uuid4(), "type": name, "schema_version": 1, "aggregate_type": "issue", "aggregate_id": ISSUE,
            "version": self.version, "occurred_at": at, "recorded_at": at, "actor": Actor(org_id=org, role=role),
            "correlation_id": "test", "prev_hash": None, "payload": payload.model_dump(mode="json"),
        })  # fmt: skip
        self.state = evolve_issue(self.state, env)
        return self.state


def raised() -> Story:
    story = Story()
    story.apply(IssueRaised(project_id="p1", programme_id="prog", category=IssueCategory.LAND, description="用地",
                            help_requested="协调"), "unit-a", Role.UNIT)  # fmt: skip
    return story


def assignment(lead: str = "unit-b") -> IssueAssigned:
    return IssueAssigned(lead_unit_id=lead, co_handler_ids=["unit-c"], deadline=T0 + timedelta(days=10),
                         deadline_source=DeadlineSource.HQ)  # fmt: skip


def conflict_on(decide: Any, *args: Any) -> Conflict:
    with pytest.raises(Conflict) as caught:
        decide(*args)
    return caught.value


def test_the_fold_follows_the_lifecycle_and_counts_reopens() -> None:
    story = raised()
    state = story.state
    assert state is not None and (state.status, state.level, state.raised_by) == (Status.RAISED, None, "unit-a")
    state = story.apply(decide_assign(state, assignment()))
    assert (state.status, state.level) == (Status.ASSIGNED, IssueLevel.LEAD_UNIT)
    assert state.handlers() == {"unit-b", "unit-c"}
    state = story.apply(decide_accept(state, ""), "unit-b", Role.UNIT)
    question = InformationRequested(request_id="inf-1", question="请补充")
    state = story.apply(decide_request_information(state, question), "unit-b", Role.UNIT)
    assert state.waiting_for_raiser is not None and state.waiting_for_raiser.requested_at == T0 + timedelta(hours=4)
    assert conflict_on(decide_resolve, state, "答复", []).extra["current_status"] == "accepted"
    state = story.apply(decide_provide_information(state, "已补充", []), "unit-a", Role.UNIT)
    assert state.waiting_for_raiser is None and state.information_requests[0].answered_at == T0 + timedelta(hours=5)
    for reopen in (1, 2):
        state = story.apply(decide_resolve(state, "已解决", []), "unit-b", Role.UNIT)
        assert state.status == Status.RESOLVED and state.answer == "已解决"
        state = story.apply(decide_reject(state, "未解决"), "unit-a", Role.UNIT)
        assert (state.status, state.reopen_count, state.resolved_at) == (Status.ACCEPTED, reopen, None)
    state = story.apply(decide_resolve(state, "确已解决", []), "unit-b", Role.UNIT)
    state = story.apply(decide_confirm(state, 5, ""), "unit-a", Role.UNIT)
    assert (state.status, state.rating, state.reopen_count) == (Status.CONFIRMED, 5, 2)
    assert conflict_on(decide_confirm, state, 5, "").extra["current_status"] == "confirmed"


def test_what_each_status_refuses() -> None:
    story = raised()
    state = story.state
    assert state is not None
    assert conflict_on(decide_accept, state, "").extra["current_status"] == "raised"
    assert conflict_on(decide_resolve, state, "x", []).extra["current_status"] == "raised"
    assigned = story.apply(decide_assign(state, assignment()))
    assert conflict_on(decide_assign, assigned, assignment("unit-c")).extra["current_status"] == "assigned"
    assert conflict_on(decide_withdraw, assigned, "撤回").extra["current_status"] == "assigned"
    assert conflict_on(decide_resolve, assigned, "x", []).extra["current_status"] == "assigned"
    assert conflict_on(decide_provide_information, assigned, "x", []).extra["current_status"] == "assigned"
    with pytest.raises(NotFound):
        decide_accept(None, "")
    withdrawn = raised()
    assert withdrawn.state is not None
    state = withdrawn.apply(decide_withdraw(withdrawn.state, "已解决"), "unit-a", Role.UNIT)
    assert state.status == Status.WITHDRAWN and state.withdrawn_at is not None
    assert conflict_on(decide_assign, state, assignment()).extra["current_status"] == "withdrawn"


def test_a_decision_becomes_one_item_assigned_to_its_owner() -> None:
    tracked = MeetingDecisionTracked(
        meeting_id="m1", decision_id="d1", text="月底前完成用地手续", owner_unit_id="unit-b",
        deadline_day="2024-03-31", deadline=datetime(2024, 3, 31, 15, 59, 59, tzinfo=UTC), decided_by="hq",
    )  # fmt: skip
    assert decide_track_decision(None, tracked) == tracked
    story = Story()
    state = story.apply(tracked)
    assert (state.status, state.lead_unit_id, state.level, state.raised_by, state.project_id) == (
        Status.ASSIGNED,
        "unit-b",
        IssueLevel.LEAD_UNIT,
        "hq",
        None,
    )
    assert decide_track_decision(state, tracked) is None  # a replay or a second replica: nothing to do
    assert decision_item_id("m1", "d1") == decision_item_id("m1", "d1") != decision_item_id("m1", "d2")
    assert decision_item_id("m1", "d1").startswith("md-")
