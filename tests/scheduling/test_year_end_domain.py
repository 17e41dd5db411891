"""The year-end evaluation's pure parts: rounding, grades, shared ranks, weights as rule data, and how an issue's
history is judged (no server needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from services.scheduling.year_end import grade, percent, ranked, weighted
from services.scheduling.year_end_parts import Fact, Period, Tally, issue, red_weeks
from shared.catalogue.issue_coordination import (
    DeadlineSource,
    IssueAssigned,
    IssueCategory,
    IssueRaised,
    IssueResolved,
    ResolutionRejected,
)
from shared.catalogue.scheduling import Colour, DimensionLight, StatusLightChanged
from shared.catalogue.year_end import CORE_PARTS, Grade, PartScore, Thresholds, UnitScore, Weights

END_2024 = datetime(2024, 12, 31, 15, 59, tzinfo=UTC)
PERIOD = Period(2024, date(2024, 12, 31), END_2024)


@pytest.mark.parametrize(
    ("numerator", "denominator", "value"),
    [(1, 3, "33.33"), (2, 3, "66.67"), (0, 5, "0.00"), (5, 4, "100.00"), (0, 0, "100.00"), (3000, 4000, "75.00")],
)
def test_a_part_is_a_percentage_in_cents_capped_at_100_and_full_when_nothing_was_due(
    numerator: int, denominator: int, value: str
) -> None:
    assert percent(Tally(Decimal(numerator), Decimal(denominator))) == Decimal(value)


def test_weighted_scores_round_half_up_to_cents() -> None:
    assert weighted(Decimal("33.33"), 30) == Decimal("10.00")  # 9.999
    assert weighted(Decimal("12.35"), 10) == Decimal("1.24")  # 1.235


@pytest.mark.parametrize(
    ("score", "expected"),
    [("90", Grade.EXCELLENT), ("89.99", Grade.GOOD), ("80", Grade.GOOD), ("60", Grade.PASS), ("59.99", Grade.FAIL)],
)
def test_grades_by_their_lowest_score(score: str, expected: Grade) -> None:
    assert grade(Decimal(score), Thresholds()) == expected


def _unit(unit_id: str, weighted_parts: list[str]) -> UnitScore:
    parts = [PartScore(part=part, counted=1, numerator=Decimal(1), denominator=Decimal(1), value=Decimal(100),
                       weight=25, weighted=Decimal(w))
             for part, w in zip(CORE_PARTS, weighted_parts, strict=True)]  # fmt: skip
    return UnitScore(unit_id=unit_id, score=Decimal(0), grade=Grade.FAIL, rank=1, project_ids=[], parts=parts)


def test_equal_scores_share_a_rank_and_the_next_rank_is_skipped() -> None:
    units = [_unit("c", ["20", "20", "20", "20"]), _unit("a", ["25", "20", "20", "15"]), _unit("b", ["25"] * 4)]
    assert [(u.unit_id, u.score, u.rank) for u in ranked(units, Thresholds())] == [
        ("b", Decimal(100), 1), ("a", Decimal(80), 2), ("c", Decimal(80), 2)]  # fmt: skip


@pytest.mark.parametrize(
    ("weights", "message"),
    [({"investment_completion": 100}, "缺少"), ({part.value: 30 for part in CORE_PARTS}, "之和须为 100"),
     ({**{part.value: 25 for part in CORE_PARTS}, "reports_on_time": "25"}, "integer")],
)  # fmt: skip
def test_weights_name_every_part_once_and_add_up_to_100(weights: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Weights.model_validate(weights)


def _fact(seq: int, payload: BaseModel, at: datetime) -> Fact:
    return Fact(seq, str(uuid.uuid4()), type(payload).__name__, "i1", at, payload)


RAISED = IssueRaised(project_id="p", programme_id="prog", category=IssueCategory.LAND, description="d",
                     help_requested="h")  # fmt: skip
DUE = datetime(2024, 6, 10, 10, tzinfo=UTC)
ASSIGNED = IssueAssigned(lead_unit_id="u", deadline=DUE, deadline_source=DeadlineSource.HQ)


def test_a_rejected_resolution_is_no_resolution_the_one_that_stands_is_judged() -> None:
    steps = [_fact(1, RAISED, datetime(2024, 6, 1, tzinfo=UTC)), _fact(2, ASSIGNED, datetime(2024, 6, 1, tzinfo=UTC)),
             _fact(3, IssueResolved(answer="a"), datetime(2024, 6, 5, tzinfo=UTC)),
             _fact(4, ResolutionRejected(reason="r"), datetime(2024, 6, 6, tzinfo=UTC)),
             _fact(5, IssueResolved(answer="b"), datetime(2024, 6, 12, tzinfo=UTC))]  # fmt: skip
    tally = issue(steps, PERIOD)
    assert (tally.numerator, tally.denominator) == (0, 1)  # resolved after its deadline in the end
    assert [ref.seq for ref in tally.refs()] == [1, 2, 5]


def test_an_open_issue_counts_late_once_its_deadline_passed_in_the_year_and_not_before() -> None:
    steps = [_fact(1, RAISED, datetime(2024, 6, 1, tzinfo=UTC)), _fact(2, ASSIGNED, datetime(2024, 6, 1, tzinfo=UTC))]
    assert (issue(steps, PERIOD).numerator, issue(steps, PERIOD).denominator) == (0, 1)
    before_due = Period(2024, date(2024, 6, 9), datetime(2024, 6, 9, 15, 59, tzinfo=UTC))
    assert issue(steps, before_due).counted == 0


def _light(seq: int, day: date, colour: Colour) -> Fact:
    dimension = DimensionLight(colour=colour)
    payload = StatusLightChanged(project_id="p", as_of=day, colour=colour, milestones=dimension, investment=dimension,
                                 reporting=dimension, rule_version=1)  # fmt: skip
    return Fact(seq, str(uuid.uuid4()), "StatusLightChanged", "p", END_2024, payload)


def test_weeks_red_are_the_weeks_of_the_year_up_to_the_date_with_a_red_day() -> None:
    lights = [_light(1, date(2023, 12, 28), Colour.RED),  # red over New Year: 2024-W01 (1-7 Jan) counts, 2023 not
              _light(2, date(2024, 1, 3), Colour.GREEN),
              _light(3, date(2024, 3, 10), Colour.RED),  # a Sunday: W10 red by one day
              _light(4, date(2024, 3, 11), Colour.YELLOW),
              _light(5, date(2024, 12, 30), Colour.RED)]  # fmt: skip
    # Up to 31 December: red W01, W10 and the 2025-W01 days of 2024 (30-31 Dec); lit every week of 2024 (W01-W52
    # and 2025-W01's two days): 53 weeks.
    tally = red_weeks(lights, PERIOD)
    assert (tally.numerator, tally.denominator) == (3, 53)
    assert [ref.seq for ref in tally.refs()] == [1, 3, 5]
    # As of 10 March: W01 and W10 red, of W01-W10.
    march = Period(2024, date(2024, 3, 10), datetime(2024, 3, 10, 15, 59, tzinfo=UTC))
    assert (red_weeks(lights, march).numerator, red_weeks(lights, march).denominator) == (2, 10)
    # Year 2025 as of 5 January: the red from 30 December holds into 2025-W01 (its 2025 days): 1 of 1.
    next_year = Period(2025, date(2025, 1, 5), datetime(2025, 1, 5, 15, 59, tzinfo=UTC))
    assert (red_weeks(lights, next_year).numerator, red_weeks(lights, next_year).denominator) == (1, 1)


def test_as_now_known_a_resolution_recorded_after_the_date_had_not_happened_on_it() -> None:
    steps = [_fact(1, RAISED, datetime(2024, 6, 1, tzinfo=UTC)), _fact(2, ASSIGNED, datetime(2024, 6, 1, tzinfo=UTC)),
             _fact(3, IssueResolved(answer="a"), datetime(2024, 6, 20, tzinfo=UTC))]  # fmt: skip
    # As now known (everything recorded) for 15 June: open then, its deadline (10 June) passed: late.
    known_for_15_june = Period(2024, date(2024, 6, 15), END_2024, datetime(2024, 6, 15, 15, 59, tzinfo=UTC))
    tally = issue(steps, known_for_15_june)
    assert (tally.numerator, tally.denominator) == (0, 1)
    assert [ref.seq for ref in tally.refs()] == [1, 2]
