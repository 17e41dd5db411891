"""Status lights (红黄绿灯): pure unit tests of services/scheduling/lights.py against the product spec.

Expected numbers are worked out by hand from a plan of 100 万元 a month (annual target 1200 万元).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from services.scheduling.lights import (
    ExemptionView,
    LightResult,
    MilestoneView,
    ReportView,
    Situation,
    compute_light,
    planned_to_date,
    worst,
)
from services.scheduling.reporting_cadence import due_weeks, end_of_day
from shared.catalogue.intake import Phase
from shared.catalogue.scheduling import Colour, Rules
from shared.clock import CHINA

G, Y, R = Colour.GREEN, Colour.YELLOW, Colour.RED
D = Decimal
TARGET = D(1200)
MONTHLY = [D(100)] * 12
SECOND_HALF = [D(0)] * 6 + [D(200)] * 6  # 200 万元 a month from July
DEFAULT = Rules()
JUNE_30 = date(2024, 6, 30)


def on_plan(as_of: date) -> Decimal:
    """序时计划 for 100 万元 a month, by hand: whole months plus the current month pro rata by day."""
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    return D(100) * (as_of.month - 1) + D(100) * as_of.day / days


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CHINA)


def weekly_reports(until: date, done: Decimal) -> list[ReportView]:
    """On-time weekly reports (periods ending on Friday, recorded that noon) for every week due by the end of
    `until`, and the year's investment so far in one more report ending on `until`."""
    reports = [
        ReportView(week.day(5) - timedelta(days=6), week.day(5), D(0), noon(week.day(5)))
        for week in due_weeks(date(until.year, 1, 1), end_of_day(until), DEFAULT)
    ]
    return [*reports, ReportView(until.replace(day=1), until, done, noon(until))]


def situation(
    as_of: date,
    *,
    done: Decimal | None = None,
    last_report: date | None = None,
    reports: list[ReportView] | None = None,
    phase: Phase = Phase.UNDER_CONSTRUCTION,
    planned_start: date = date(2024, 1, 1),
    monthly: Sequence[Decimal] = MONTHLY,
    milestones: Sequence[MilestoneView] = (),
    exemptions: Sequence[ExemptionView] = (),
    escalations: int = 0,
    registered_on: date | None = None,
) -> Situation:
    """A project that is on plan and reported every week on time up to as_of unless told otherwise."""
    if reports is None:
        reports = weekly_reports(last_report or as_of, on_plan(as_of) if done is None else done)
    return Situation(
        as_of=as_of,
        phase=phase,
        planned_start=planned_start,
        year=as_of.year,
        annual_target=TARGET,
        monthly_investment=list(monthly),
        milestones=list(milestones),
        reports=reports,
        exemptions=list(exemptions),
        open_escalations=escalations,
        registered_on=registered_on,
    )


def milestone(planned: date, *, baseline: date | None = None, done_on: date | None = None) -> MilestoneView:
    return MilestoneView("m1", "主体结构封顶", planned, baseline, done_on)


def period(exemption_id: str, start: date, end: date) -> ExemptionView:
    return ExemptionView(exemption_id, "period", None, start, end)


def dims(result: LightResult) -> tuple[Colour, ...]:
    """Colours of (milestones, investment, reporting, issues)."""
    return tuple(d.colour for d in (result.milestones, result.investment, result.reporting, result.issues))


def text(result: LightResult) -> str:
    parts = (result.milestones, result.investment, result.reporting, result.issues)
    return " ".join(reason for dim in parts for reason in dim.reasons)


# -- investment (序时进度) ---------------------------------------------------------------------------------------

CUSTOM = Rules(yellow_points_behind=5, red_points_behind=15)


@pytest.mark.parametrize(
    ("rules", "done", "behind", "colour"),
    [
        (DEFAULT, D("481.2"), 9.9, G),
        (DEFAULT, D("480"), 10.0, Y),
        (DEFAULT, D("360"), 20.0, Y),
        (DEFAULT, D("240"), 30.0, Y),
        (DEFAULT, D("238.8"), 30.1, R),
        (DEFAULT, D("700"), -100 / 12, G),  # ahead of plan
        (CUSTOM, D("541.2"), 4.9, G),
        (CUSTOM, D("540"), 5.0, Y),
        (CUSTOM, D("420"), 15.0, Y),
        (CUSTOM, D("418.8"), 15.1, R),
    ],
)
def test_investment_thresholds(rules: Rules, done: Decimal, behind: float, colour: Colour) -> None:
    result = compute_light(situation(JUNE_30, done=done), rules)  # planned to date = 600
    assert result.points_behind == pytest.approx(behind)
    assert result.investment.colour == colour
    assert result.colour == colour  # every other dimension is green
    assert dims(result) == (G, colour, G, G)
    assert ("低于序时进度" in text(result)) == (behind > 0)


@pytest.mark.parametrize(
    ("as_of", "monthly", "done", "planned", "spi", "behind"),
    [
        (date(2024, 1, 31), MONTHLY, D(100), 100, 1.0, 0.0),
        (date(2024, 6, 30), MONTHLY, D(450), 600, 0.75, 12.5),
        (date(2024, 6, 15), MONTHLY, D(500), 550, 500 / 550, 50 / 12),
        (date(2024, 2, 15), MONTHLY, D(100), 100 + 100 * 15 / 29, 100 / (100 + 1500 / 29), (1500 / 29) / 12),
        (date(2023, 2, 15), MONTHLY, D(100), 100 + 100 * 15 / 28, 100 / (100 + 1500 / 28), (1500 / 28) / 12),
        (date(2024, 12, 31), MONTHLY, D(1200), 1200, 1.0, 0.0),
        (date(2024, 7, 16), SECOND_HALF, D(100), 3200 / 31, 100 / (3200 / 31), (3200 / 31 - 100) / 12),
    ],
)
def test_spi_and_points_behind(
    as_of: date, monthly: list[Decimal], done: Decimal, planned: float, spi: float, behind: float
) -> None:
    assert float(planned_to_date(monthly, as_of.year, as_of, [])) == pytest.approx(planned)
    result = compute_light(situation(as_of, done=done, monthly=monthly), DEFAULT)
    assert result.spi == pytest.approx(spi)
    assert result.points_behind == pytest.approx(behind)
    # The office's words, not the index's name: 投资完成率 against 序时进度, in percent of the annual target.
    assert "SPI" not in text(result) and "投资完成率" in text(result) and "序时进度" in text(result)
    assert result.completion_pct == pytest.approx(float(done) / 12)
    assert result.time_progress_pct == pytest.approx(planned / 12)


# -- milestones: late start and overdue nodes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "colour", "fragment"),
    [
        (date(2024, 3, 31), G, None),  # still inside the planned start month
        (date(2024, 4, 1), Y, "逾期 1 个月"),
        (date(2024, 5, 15), Y, "逾期 2 个月"),
        (date(2024, 6, 15), R, "逾期 3 个月"),
    ],
)
def test_late_start(as_of: date, colour: Colour, fragment: str | None) -> None:
    result = compute_light(situation(as_of, phase=Phase.PRELIMINARY, planned_start=date(2024, 3, 1)), DEFAULT)
    assert result.milestones.colour == colour
    assert result.colour == colour
    if fragment is None:
        assert result.milestones.reasons == []
    else:
        assert fragment in text(result) and "未开工" in text(result)
    started = compute_light(situation(as_of, planned_start=date(2024, 3, 1)), DEFAULT)  # under construction
    assert started.milestones.colour == G


@pytest.mark.parametrize(
    ("view", "colour", "fragments"),
    [
        (milestone(JUNE_30 - timedelta(days=1)), Y, ["主体结构封顶", "逾期 1 天"]),
        (milestone(JUNE_30 - timedelta(days=30)), Y, ["主体结构封顶", "逾期 30 天"]),
        (milestone(JUNE_30 - timedelta(days=31)), R, ["主体结构封顶", "逾期 31 天"]),
        (milestone(JUNE_30), G, []),  # due today: not yet overdue
        (milestone(date(2024, 7, 15)), G, []),
        (milestone(date(2024, 6, 10), done_on=date(2024, 6, 10)), G, []),  # done on time
        (milestone(date(2024, 5, 1), done_on=date(2024, 6, 20)), G, []),  # done (late) is no longer overdue
        # re-baselined 2024-05-01 -> 2024-06-20: 10 days late on the current date (50 on the baseline)
        (milestone(date(2024, 6, 20), baseline=date(2024, 5, 1)), Y, ["逾期 10 天", "2024-06-20", "2024-05-01"]),
        (milestone(date(2024, 7, 20), baseline=date(2024, 5, 1)), G, []),
    ],
)
def test_milestone_overdue(view: MilestoneView, colour: Colour, fragments: list[str]) -> None:
    result = compute_light(situation(JUNE_30, milestones=[view]), DEFAULT)
    assert result.milestones.colour == colour
    assert result.colour == colour
    assert all(f in text(result) for f in fragments), text(result)
    if colour == G:
        assert result.milestones.reasons == []


# -- reporting (the weekly deadline: tests/scheduling/test_reporting_cadence.py) -------------------------------


def test_investment_reason_in_the_office_words() -> None:
    # 2024-06-30: 序时进度 600 of 1200 = 50%; 440 done = 投资完成率 36.7%: 13.3 points behind.
    result = compute_light(situation(JUNE_30, done=D(440)), DEFAULT)
    assert result.investment.reasons == [
        "投资完成率 36.7%(本年完成 440.0 万元/年度计划 1200 万元),低于序时进度 50% 达 13.3 个百分点"
    ]
    ahead = compute_light(situation(JUNE_30, done=D(700)), DEFAULT)
    assert ahead.investment.reasons == ["投资完成率 58.3%(本年完成 700.0 万元/年度计划 1200 万元),达到序时进度 50%"]


# -- escalated issues and the combined colour ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("open_issues", "rules", "colour"),
    [
        (0, DEFAULT, G),
        (1, DEFAULT, R),
        (2, Rules(escalated_issue_open_colour=Y), Y),
        (3, Rules(escalated_issue_open_colour=G), G),
    ],
)
def test_escalations(open_issues: int, rules: Rules, colour: Colour) -> None:
    result = compute_light(situation(JUNE_30, escalations=open_issues), rules)
    assert result.issues.colour == colour
    assert result.colour == colour
    if open_issues:
        assert f"{open_issues} 个" in text(result)


LAST_FRIDAY = date(2024, 6, 28)  # the deadline day of 2024-W26, the last week due on JUNE_30


@pytest.mark.parametrize(
    ("overdue_days", "done", "weeks_missed", "issues", "expected", "colour"),
    [
        (None, D(600), 0, 0, (G, G, G, G), G),
        (5, D(600), 0, 0, (Y, G, G, G), Y),
        (5, D(480), 1, 0, (Y, Y, Y, G), Y),
        (5, D(600), 3, 0, (Y, G, R, G), R),
        (None, D(200), 2, 0, (G, R, Y, G), R),
        (40, D(480), 0, 0, (R, Y, G, G), R),
        (None, D(600), 0, 1, (G, G, G, R), R),
    ],
)
def test_combined_is_worst(
    overdue_days: int | None,
    done: Decimal,
    weeks_missed: int,
    issues: int,
    expected: tuple[Colour, ...],
    colour: Colour,
) -> None:
    views = [] if overdue_days is None else [milestone(JUNE_30 - timedelta(days=overdue_days))]
    last = LAST_FRIDAY - timedelta(weeks=weeks_missed)
    s = situation(JUNE_30, done=done, last_report=last, milestones=views, escalations=issues)
    result = compute_light(s, DEFAULT)
    assert dims(result) == expected
    assert result.colour == colour == worst(*expected)


# -- approved exemptions (正当理由) -----------------------------------------------------------------------------


def test_milestone_exemption_turns_red_milestone_green() -> None:
    view = milestone(JUNE_30 - timedelta(days=40))
    assert compute_light(situation(JUNE_30, milestones=[view]), DEFAULT).milestones.colour == R
    exemption = ExemptionView("ex-m1", "milestone", "m1", None, None)
    result = compute_light(situation(JUNE_30, milestones=[view], exemptions=[exemption]), DEFAULT)
    assert result.milestones.colour == G and result.colour == G
    assert result.exemptions_applied == ["ex-m1"]
    assert "主体结构封顶" in text(result) and "豁免" in text(result) and "ex-m1" in text(result)


def test_period_exemption_reduces_plan_to_date() -> None:
    june = period("ex-june", date(2024, 6, 1), date(2024, 6, 30))
    assert float(planned_to_date(MONTHLY, 2024, JUNE_30, [june])) == pytest.approx(500)
    half = period("ex-half", date(2024, 6, 16), date(2024, 7, 31))  # 15 of June's 30 days, none after as_of
    assert float(planned_to_date(MONTHLY, 2024, JUNE_30, [half])) == pytest.approx(550)
    plain = compute_light(situation(JUNE_30, done=D(430)), DEFAULT)
    assert plain.investment.colour == Y and plain.points_behind == pytest.approx(170 / 12)
    result = compute_light(situation(JUNE_30, done=D(430), exemptions=[june]), DEFAULT)
    assert result.investment.colour == G and result.colour == G
    assert result.points_behind == pytest.approx(70 / 12)
    assert result.spi == pytest.approx(0.86)
    assert result.exemptions_applied == ["ex-june"]
    assert "豁免" in text(result)


def test_period_exemption_over_planned_start_month_end_removes_late_start() -> None:
    s = situation(date(2024, 4, 20), phase=Phase.PRELIMINARY, planned_start=date(2024, 3, 1))
    assert compute_light(s, DEFAULT).milestones.colour == Y
    exemption = period("ex-start", date(2024, 3, 25), date(2024, 4, 10))
    exempted = situation(
        date(2024, 4, 20), phase=Phase.PRELIMINARY, planned_start=date(2024, 3, 1), exemptions=[exemption]
    )
    result = compute_light(exempted, DEFAULT)
    assert result.milestones.colour == G and result.colour == G
    assert result.exemptions_applied == ["ex-start"]
    assert "未开工" in text(result) and "豁免" in text(result)


def test_period_exemption_over_the_deadlines_excuses_those_weeks() -> None:
    last = date(2024, 5, 31)  # W23-W26 missed by 06-30: red
    assert compute_light(situation(JUNE_30, last_report=last), DEFAULT).reporting.colour == R
    exemption = period("ex-flood", date(2024, 6, 20), date(2024, 7, 10))  # covers the deadlines of W25 and W26
    result = compute_light(situation(JUNE_30, last_report=last, exemptions=[exemption]), DEFAULT)
    assert result.reporting.colour == Y and result.colour == Y  # W23 and W24 are still missing: 2 weeks
    assert result.exemptions_applied == ["ex-flood"]
    assert "2024年第25周(正当理由豁免 ex-flood)" in " ".join(result.reporting.reasons)
    assert "连续 2 周" in " ".join(result.reporting.reasons)


# -- inactive phases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "word"), [(Phase.IN_OPERATION, "投产"), (Phase.CANCELLED, "取消")])
def test_inactive_phases_are_green(phase: Phase, word: str) -> None:
    s = situation(
        JUNE_30,
        phase=phase,
        done=D(0),
        last_report=date(2024, 3, 1),
        milestones=[milestone(date(2024, 4, 1))],
        exemptions=[ExemptionView("ex-m1", "milestone", "m1", None, None)],
        escalations=2,
    )
    result = compute_light(s, DEFAULT)
    assert result.colour == G
    assert dims(result) == (G, G, G, G)
    assert word in text(result)
    assert result.spi is None and result.points_behind is None
    assert result.exemptions_applied == []


# -- exemptions that end ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "colour"),
    [(date(2024, 4, 30), G), (date(2024, 5, 1), Y), (date(2024, 7, 1), R)],
)
def test_late_start_counts_again_after_the_exemption_ends(as_of: date, colour: Colour) -> None:
    exemption = period("ex-start", date(2024, 3, 25), date(2024, 4, 10))
    s = situation(as_of, phase=Phase.PRELIMINARY, planned_start=date(2024, 3, 1), exemptions=[exemption])
    result = compute_light(s, DEFAULT)
    assert result.milestones.colour == colour
    assert "ex-start" in result.exemptions_applied


def test_a_completed_project_is_watched_until_it_is_in_operation() -> None:
    """竣工 is not the end (竣工项目抓投产): its own milestones (试生产, 投产) and reports still light it."""
    trial_run = MilestoneView("m-trial", "试生产", date(2024, 5, 1), None, None)
    operation = MilestoneView("m-op", "投产", date(2024, 9, 30), None, None)
    late = situation(JUNE_30, phase=Phase.COMPLETED, milestones=[trial_run, operation])
    result = compute_light(late, DEFAULT)
    assert result.colour == R and result.milestones.colour == R  # 试生产 60 days overdue
    assert "跟踪至投产" in text(result) and "试生产" in text(result) and "投产" in text(result)
    on_time = situation(JUNE_30, phase=Phase.COMPLETED, milestones=[operation])
    assert compute_light(on_time, DEFAULT).colour == G
    silent = situation(JUNE_30, phase=Phase.COMPLETED, last_report=date(2024, 5, 1))
    assert compute_light(silent, DEFAULT).reporting.colour == R  # a completed project still reports
    assert compute_light(situation(JUNE_30, phase=Phase.IN_OPERATION, milestones=[trial_run]), DEFAULT).colour == G
