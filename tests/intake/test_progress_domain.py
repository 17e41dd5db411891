"""The progress ledger's decisions and folds, without I/O: overlap, milestones by id, correction, review, totals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from services.intake import domain, progress
from services.intake.commands import CorrectReport, ReportProgress, ReviewReport
from services.intake.progress import PeriodOverlap, PlanMilestone, ProjectReport, ReportState, ReportStatus
from shared.catalogue.intake import ProgressReported
from shared.domain_errors import Conflict, Invalid, NotFound
from tests.intake.test_domain import PID, REPORT, envelope, project

KNOWN = {"m-land": [PlanMilestone(f"{PID}-y2023", 2023, "用地预审(上年)"), PlanMilestone(f"{PID}-y2024", 2024, "用地")]}


class Ledger:
    """A project and its reports folded as the projection folds them."""

    def __init__(self) -> None:
        self.project = project()
        self.reports: dict[str, ReportState] = {}
        self.version = 1

    def apply(self, event: BaseModel) -> None:
        self.version += 1
        env = envelope(type(event).__name__, event, self.version)
        self.project = domain.evolve_project(self.project, env)
        report_id = event.report_id  # type: ignore[attr-defined]
        self.reports[report_id] = progress.evolve_report(self.reports.get(report_id), env, event)  # type: ignore[arg-type]

    def report(self, report_id: str, start: str, end: str, amount: str = "100", **extra: Any) -> ProgressReported:
        cmd = ReportProgress(**(REPORT | {"period_start": start, "period_end": end, "investment_this_period": amount,
                                          "milestones_done": []} | extra))  # fmt: skip
        event = progress.decide_report_progress(self.project, cmd, report_id=report_id, milestones=KNOWN)
        self.apply(event)
        return event

    def on(self, report_id: str) -> ProjectReport:
        return ProjectReport(self.project, self.reports.get(report_id))


def test_periods_may_not_overlap_but_may_touch() -> None:
    ledger = Ledger()
    ledger.report("r1", "2024-03-04", "2024-03-10")
    ledger.report("r2", "2024-03-11", "2024-03-17")  # the next day: fine
    for start, end in (("2024-03-10", "2024-03-12"), ("2024-03-01", "2024-03-04"), ("2024-03-05", "2024-03-06")):
        cmd = ReportProgress(**(REPORT | {"period_start": start, "period_end": end, "milestones_done": []}))
        with pytest.raises(PeriodOverlap):
            progress.decide_report_progress(ledger.project, cmd, report_id="r3", milestones=KNOWN)
    assert len(ledger.project.periods) == 1  # contiguous weeks stay one span, however many reports


def test_a_milestone_is_named_by_id_and_resolved_to_the_plan_of_the_year_it_was_reached() -> None:
    event = Ledger().report("r1", "2024-03-04", "2024-03-10", milestones_done=[{"milestone_id": "m-land",
                                                                                "done_on": "2024-03-05"}])  # fmt: skip
    [done] = event.milestones_done
    assert (done.milestone_id, done.plan_id, done.name) == ("m-land", f"{PID}-y2024", "用地")
    cmd = ReportProgress(**(REPORT | {"milestones_done": [{"milestone_id": "m-typo", "done_on": "2024-03-05"}]}))
    with pytest.raises(Invalid) as refused:
        progress.decide_report_progress(project(), cmd, report_id="r1", milestones=KNOWN)
    assert refused.value.field == "milestones_done.0.milestone_id"


def test_correction_then_review_and_the_totals_follow_accepted_figures() -> None:
    ledger = Ledger()
    ledger.report("r1", "2024-03-04", "2024-03-10", "100")
    ledger.report("r2", "2024-03-11", "2024-03-17", "50")
    assert ledger.project.cumulative_investment == 0 and ledger.project.reported_investment == 150

    def review(report_id: str, decision: str, reason: str = "") -> None:
        cmd = ReviewReport(project_id=PID, report_id=report_id, decision=decision, reason=reason)
        ledger.apply(progress.decide_review_report(ledger.on(report_id), cmd))

    def correct(report_id: str, amount: str) -> None:
        cmd = CorrectReport(project_id=PID, report_id=report_id, reason="数字填错", investment_this_period=amount)
        ledger.apply(progress.decide_correct_report(ledger.on(report_id), cmd, milestones=KNOWN))

    with pytest.raises(Invalid):  # a return needs a reason
        progress.decide_review_report(ledger.on("r1"), ReviewReport(project_id=PID, report_id="r1", decision="return"))
    review("r1", "return", "投资数字与凭证不符")
    assert ledger.reports["r1"].status == ReportStatus.RETURNED
    with pytest.raises(Conflict):  # returned: corrected first, then reviewed again
        progress.decide_review_report(ledger.on("r1"), ReviewReport(project_id=PID, report_id="r1", decision="accept"))
    correct("r1", "80")
    assert ledger.reports["r1"].status == ReportStatus.PENDING and ledger.project.reported_investment == 130
    review("r1", "accept")
    review("r2", "accept")
    assert ledger.project.cumulative_investment == 130
    correct("r2", "70")  # an accepted report corrected: its accepted figure counts until the correction is reviewed
    assert ledger.project.cumulative_investment == 130 and ledger.reports["r2"].accepted_investment == 50
    review("r2", "accept")
    assert ledger.project.cumulative_investment == 150 and ledger.reports["r2"].corrections == 1


def test_a_correction_names_an_existing_report_of_the_project_and_changes_something() -> None:
    ledger = Ledger()
    ledger.report("r1", "2024-03-04", "2024-03-10")
    with pytest.raises(NotFound):
        progress.decide_correct_report(
            ledger.on("r9"),
            CorrectReport(project_id=PID, report_id="r9", reason="更正", image_progress_pct="5"),
            milestones=KNOWN,
        )
    with pytest.raises(Invalid) as refused:
        progress.decide_correct_report(
            ledger.on("r1"), CorrectReport(project_id=PID, report_id="r1", reason="更正"), milestones=KNOWN
        )
    assert refused.value.field == "body"


def test_a_report_recorded_before_the_review_existed_still_counts_at_once() -> None:
    legacy = ProgressReported(report_id="old", period_start=date(2024, 1, 1), period_end=date(2024, 1, 7),
                              investment_this_period=Decimal(40), cumulative_investment=Decimal(40),
                              image_progress_pct=Decimal(1))  # fmt: skip
    ledger = Ledger()
    ledger.apply(legacy)
    assert ledger.project.cumulative_investment == 40 and ledger.reports["old"].status == ReportStatus.ACCEPTED
