"""Status lights (红黄绿灯), computed without I/O from a project, its plan, its reports and one rule version.

Each dimension (milestones, investment, reporting, escalated issues and open 督办 orders) gets a colour and the
reasons for it in plain Chinese; the project's light is the worst of them. Approved exemptions (正当理由) keep a
delay out of the colour and the reason says so.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from services.scheduling.domain_supervision import KnownOrder, with_open_orders
from services.scheduling.reporting_cadence import FiledReport, end_of_day, reporting_light
from shared.catalogue.intake import Phase
from shared.catalogue.scheduling import Colour, DimensionLight, ReportWeek, Rules

ORDER = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.RED: 2}
# 竣工 is not the end: a completed project is watched until 投产 (竣工项目抓投产), with its own milestones and lights.
INACTIVE = {Phase.IN_OPERATION: "已投产", Phase.CANCELLED: "已取消"}
WATCHED_UNTIL_OPERATION = "项目已竣工,跟踪至投产"


def worst(*colours: Colour) -> Colour:
    return max(colours, key=ORDER.__getitem__)


@dataclass(frozen=True)
class MilestoneView:
    milestone_id: str
    name: str
    planned_date: date  # current (possibly re-baselined) date
    baseline_date: date | None
    done_on: date | None


@dataclass(frozen=True)
class ExemptionView:
    exemption_id: str
    scope: str  # milestone | period
    milestone_id: str | None
    period_start: date | None
    period_end: date | None

    def covers_day(self, day: date) -> bool:
        return (
            self.scope == "period"
            and self.period_start is not None
            and self.period_end is not None
            and self.period_start <= day <= self.period_end
        )


@dataclass(frozen=True)
class ReportView:
    period_start: date
    period_end: date
    investment: Decimal
    recorded_at: datetime  # when it was recorded: on time or late against its week's deadline


@dataclass(frozen=True)
class OpenIssueView:
    """An open issue of the project as scheduling knows it (domain_issues.py): named in the reason with its level."""

    issue_id: str
    summary: str
    level: str | None  # lead_unit | hq | leader | mayor (IssueLevel); None before assignment


@dataclass(frozen=True)
class Situation:
    """Everything a light depends on, as of one day."""

    as_of: date
    phase: Phase
    planned_start: date
    year: int
    annual_target: Decimal
    monthly_investment: list[Decimal]
    milestones: list[MilestoneView]
    reports: list[ReportView]
    exemptions: list[ExemptionView] = field(default_factory=list)  # approved ones only
    open_escalations: int = 0
    open_issues: list[OpenIssueView] = field(default_factory=list)
    open_orders: list[KnownOrder] = field(default_factory=list)  # 督办 on the project or one of its issues
    registered_on: date | None = None  # from when reports are expected (default: 1 January of `year`)
    evaluated_at: datetime | None = None  # the moment judged (deadlines passed by then); default: the end of as_of

    def moment(self) -> datetime:
        return self.evaluated_at or end_of_day(self.as_of)


@dataclass
class LightResult:
    colour: Colour
    milestones: DimensionLight
    investment: DimensionLight
    reporting: DimensionLight
    issues: DimensionLight
    spi: float | None
    points_behind: float | None
    exemptions_applied: list[str]
    completion_pct: float | None = None  # 投资完成率
    time_progress_pct: float | None = None  # 序时进度
    report_weeks: list[ReportWeek] = field(default_factory=list)


def months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def planned_to_date(monthly: list[Decimal], year: int, as_of: date, exempt: list[ExemptionView]) -> Decimal:
    """Time-proportional plan (序时进度): whole months before as_of, the current month pro rata by day; days
    covered by an approved period exemption are taken out of the plan."""
    first = date(year, 1, 1)
    if as_of < first:
        return Decimal(0)
    end = min(as_of, date(year, 12, 31))
    total = sum(monthly[: end.month - 1], Decimal(0)) + _per_day(monthly, end) * end.day
    exempt_days: set[date] = set()
    for e in exempt:
        if e.period_start is None or e.period_end is None:
            continue
        day = max(e.period_start, first)
        while day <= min(e.period_end, end):
            exempt_days.add(day)
            day += timedelta(days=1)
    return total - sum((_per_day(monthly, day) for day in exempt_days), Decimal(0))


def _per_day(monthly: list[Decimal], day: date) -> Decimal:
    return monthly[day.month - 1] / calendar.monthrange(day.year, day.month)[1]


def compute_light(s: Situation, rules: Rules) -> LightResult:
    applied: list[str] = []
    if s.phase in INACTIVE:
        note = DimensionLight(colour=Colour.GREEN, reasons=[f"项目{INACTIVE[s.phase]},不再预警"])
        green = DimensionLight(colour=Colour.GREEN)
        return LightResult(Colour.GREEN, note, green, green, green, None, None, [])
    milestones = _milestones(s, rules, applied)
    if s.phase == Phase.COMPLETED:
        milestones.reasons.insert(0, WATCHED_UNTIL_OPERATION)
    investment, figures = _investment(s, rules, applied)
    reporting, weeks = _reporting(s, rules, applied)
    issues = DimensionLight(colour=Colour.GREEN)
    if s.open_escalations:
        issues = DimensionLight(
            colour=rules.escalated_issue_open_colour, reasons=[f"有 {s.open_escalations} 个已上报(升级)问题未解决"]
        )
    issues = with_open_orders(_open_issues(s, rules, issues), s.open_orders, rules, s.moment())
    colour = worst(milestones.colour, investment.colour, reporting.colour, issues.colour)
    return LightResult(
        colour, milestones, investment, reporting, issues, figures.spi, figures.points_behind, sorted(set(applied)),
        figures.completion_pct, figures.time_progress_pct, weeks,
    )  # fmt: skip


LEVELS = ("lead_unit", "hq", "leader", "mayor")
LEVEL_LABELS = {"lead_unit": "首接责任单位", "hq": "指挥部办公室", "leader": "包保市领导", "mayor": "市长"}


def _reaches(level: str | None, threshold: str | None) -> bool:
    return level is not None and threshold is not None and LEVELS.index(level) >= LEVELS.index(threshold)


def _open_issues(s: Situation, rules: Rules, issues: DimensionLight) -> DimensionLight:
    """Each open issue at or above a threshold level colours the issue dimension and is named in its reasons."""
    colour, reasons = issues.colour, list(issues.reasons)
    for issue in s.open_issues:
        if _reaches(issue.level, rules.issue_red_from_level):
            colour = worst(colour, Colour.RED)
        elif _reaches(issue.level, rules.issue_yellow_from_level):
            colour = worst(colour, Colour.YELLOW)
        else:
            continue
        assert issue.level is not None
        reasons.append(f"问题「{issue.summary}」({issue.issue_id})已上报至{LEVEL_LABELS[issue.level]},尚未解决")
    return DimensionLight(colour=colour, reasons=reasons)


def _milestones(s: Situation, rules: Rules, applied: list[str]) -> DimensionLight:
    colour, reasons = Colour.GREEN, []
    start, exemption = s.planned_start, None
    covering = next((e for e in s.exemptions if e.covers_day(_month_end(start))), None)
    if covering is not None and covering.period_end is not None:
        # A justified delay moves the start it is measured against to the day after the exemption ends.
        start, exemption = covering.period_end + timedelta(days=1), covering
    if s.phase == Phase.PRELIMINARY and s.as_of > _month_end(s.planned_start):
        late = months_between(start, s.as_of) if s.as_of > _month_end(start) else 0
        text = f"计划 {s.planned_start.year}年{s.planned_start.month}月开工,尚未开工"
        if exemption is not None:
            applied.append(exemption.exemption_id)
            text += f"(正当理由豁免 {exemption.exemption_id} 至 {start - timedelta(days=1)},其后逾期 {late} 个月)"
        else:
            text += f",已逾期 {late} 个月"
        if late >= rules.late_start_red_months:
            colour = worst(colour, Colour.RED)
            reasons.append(f"{text},达到红灯标准({rules.late_start_red_months} 个月)")
        elif late >= rules.late_start_yellow_months:
            colour = worst(colour, Colour.YELLOW)
            reasons.append(text)
        elif exemption is not None:
            reasons.append(text + ",不计入预警")
    for m in s.milestones:
        if m.done_on is not None or m.planned_date >= s.as_of:
            continue
        overdue = (s.as_of - m.planned_date).days
        text = f"节点「{m.name}」计划 {m.planned_date.isoformat()} 完成,已逾期 {overdue} 天"
        if m.baseline_date is not None and m.baseline_date != m.planned_date:
            text += f"(基准日期 {m.baseline_date.isoformat()})"
        exemption = next(
            (e for e in s.exemptions if e.milestone_id == m.milestone_id or e.covers_day(m.planned_date)), None
        )
        if exemption is not None:
            applied.append(exemption.exemption_id)
            reasons.append(f"{text},已批准正当理由豁免 {exemption.exemption_id},不计入预警")
            continue
        colour = worst(colour, Colour.RED if overdue > rules.milestone_overdue_red_days else Colour.YELLOW)
        reasons.append(text)
    return DimensionLight(colour=colour, reasons=reasons)


@dataclass(frozen=True)
class InvestmentFigures:
    spi: float | None = None
    points_behind: float | None = None
    completion_pct: float | None = None
    time_progress_pct: float | None = None


def pct(value: float) -> str:
    """A percentage as the office writes it: one decimal, none when whole (42%, 36.7%)."""
    return f"{value:.1f}".removesuffix(".0")


def _investment(s: Situation, rules: Rules, applied: list[str]) -> tuple[DimensionLight, InvestmentFigures]:
    """投资完成率 (completed this year / annual target) against 序时进度 (the time-proportional plan / annual target):
    the gap in percentage points decides the colour."""
    if s.as_of.year < s.year or s.annual_target <= 0:
        return DimensionLight(colour=Colour.GREEN, reasons=["本年度计划尚未开始"]), InvestmentFigures()
    exempt = [e for e in s.exemptions if e.scope == "period"]
    planned = planned_to_date(s.monthly_investment, s.year, s.as_of, exempt)
    plain = planned_to_date(s.monthly_investment, s.year, s.as_of, [])
    for e in exempt:
        assert e.period_start is not None and e.period_end is not None
        if e.period_start <= s.as_of and e.period_end >= date(s.year, 1, 1):
            applied.append(e.exemption_id)
    done = sum((r.investment for r in s.reports if r.period_end <= s.as_of and r.period_end.year == s.year), Decimal(0))
    completion = float(done / s.annual_target * 100)
    progress = float(planned / s.annual_target * 100)
    behind = float((planned - done) / s.annual_target * 100)  # exact, not the difference of two rounded floats
    figures = InvestmentFigures(float(done / planned) if planned > 0 else None, behind, completion, progress)
    text = (
        f"投资完成率 {pct(completion)}%(本年完成 {done:.1f} 万元/年度计划 {s.annual_target:.0f} 万元)"
        + (f",低于序时进度 {pct(progress)}% 达 {pct(behind)} 个百分点" if behind > 0 else "")
        + (f",达到序时进度 {pct(progress)}%" if behind <= 0 else "")
    )
    if planned != plain:
        text += "(序时进度已扣除正当理由豁免期间的计划)"
    if behind > rules.red_points_behind:
        return DimensionLight(colour=Colour.RED, reasons=[text]), figures
    if behind >= rules.yellow_points_behind:
        return DimensionLight(colour=Colour.YELLOW, reasons=[text]), figures
    return DimensionLight(colour=Colour.GREEN, reasons=[text]), figures


def _reporting(s: Situation, rules: Rules, applied: list[str]) -> tuple[DimensionLight, list[ReportWeek]]:
    def excused(deadline_day: date) -> str | None:
        exemption = next((e for e in s.exemptions if e.covers_day(deadline_day)), None)
        if exemption is None:
            return None
        applied.append(exemption.exemption_id)
        return exemption.exemption_id

    filed = [FiledReport(r.period_start, r.period_end, r.recorded_at) for r in s.reports]
    return reporting_light(filed, s.registered_on or date(s.year, 1, 1), s.moment(), rules, excused)


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
