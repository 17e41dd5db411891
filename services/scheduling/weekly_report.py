"""The weekly dispatch report (周调度报告) of one ISO week, as it was known on its date: pure, facts in, blocks out.

Lights and reasons are the ones shown on the report's date (`as_shown`), each under the rule version it was
recorded with; "this week's changes" compare the light shown at the end of the previous week with the one shown on
the report's date. Rendering to DOCX and PDF is report_document.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from services.scheduling.report_document import Heading, Paragraph, ReportDocument, Table
from services.scheduling.reports import CATEGORY_NAMES, LIGHT_NAMES, light_label, money

STARTED_PHASES = frozenset({"under_construction", "completed", "in_operation"})  # 已开工: building or past it


@dataclass(frozen=True)
class WeekProject:
    name: str
    category: str
    unit_name: str
    sponsor_name: str | None
    phase: str  # the phase as known on the report's date (phases_as_known.py)
    planned_start: date
    annual_target: Decimal | None  # 年度计划投资, 万元
    planned_to_date: Decimal  # 序时计划投资 on the report's date, 万元
    done_this_year: Decimal  # reported for periods ending by the report's date, 万元
    light: str | None  # as shown on the report's date
    reasons: list[str]
    rule_version: int | None
    light_before: str | None  # as shown at the end of the previous week


@dataclass(frozen=True)
class MilestoneLine:
    project_name: str
    milestone: str
    planned_date: date
    unit_name: str
    days: int  # days left (due) or days overdue


@dataclass(frozen=True)
class MissingReport:
    unit_name: str
    project_names: list[str]


@dataclass(frozen=True)
class ExemptionLine:
    project_name: str
    exemption_id: str
    scope: str  # in words: the milestone or the period it covers
    reason: str
    decided_on: date | None = None  # the day the approval was recorded (None: folded before it was kept)
    this_week: bool = False  # approved in the report's week (else granted earlier and still in force)


@dataclass(frozen=True)
class DecisionLine:
    text: str
    owner_unit_name: str
    deadline: date
    status: str


@dataclass(frozen=True)
class IssueLine:
    """存在问题: an issue of a project still awaiting its answer on the report's date."""

    project_name: str
    issue_id: str
    summary: str
    category: str
    level: str
    lead_unit_name: str
    deadline: date | None
    status: str


@dataclass(frozen=True)
class WeeklyFacts:
    programme_name: str
    week: str  # ISO week, 2024-W23
    week_start: date
    week_end: date
    as_of: date  # the report's date: the week's Sunday, or the platform's today within the week
    scope: str | None  # the unit the report is narrowed to, None for the whole programme
    projects: list[WeekProject]
    due: list[MilestoneLine]
    overdue: list[MilestoneLine]
    missing: list[MissingReport]
    exemptions: list[ExemptionLine]
    meeting: str | None  # the last dispatch meeting up to the report's date: title and day
    decisions: list[DecisionLine]
    issues: list[IssueLine] = field(default_factory=list)  # 存在问题: open at the end of the report's date


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _pct(part: Decimal, whole: Decimal) -> str:
    return f"{part / whole * 100:.1f}%" if whole > 0 else "—"  # a share of nothing is no number


def build_weekly_report(f: WeeklyFacts) -> ReportDocument:
    year, number = f.week_start.isocalendar().year, f.week_start.isocalendar().week
    doc = ReportDocument(f"{f.programme_name}周调度报告")
    doc.blocks.append(Heading(doc.title, 0))
    doc.blocks.append(
        Paragraph(f"{year}年第{number}周({_day(f.week_start)}至{_day(f.week_end)})  截至 {_day(f.as_of)}", True)
    )
    if f.scope is not None:
        doc.blocks.append(Paragraph(f"本报告仅含{f.scope}负责的项目。", True))
    doc.blocks.append(Paragraph("灯色与原因为当日监测所记录的结果(按记录时的规则版本),不按现有数据重新计算。"))
    _overview(doc, f.projects)
    _start_and_investment(doc, f.projects, f.as_of)
    _changes(doc, f.projects)
    for heading, colour in (("四、红灯项目", "red"), ("五、黄灯项目", "yellow")):
        lit = [p for p in f.projects if p.light == colour]
        rows = [[p.name, p.unit_name, p.sponsor_name or "", ";".join(p.reasons), _version(p)] for p in lit]
        doc.section(heading, ["项目名称", "责任单位", "包保市领导", "预警原因", "规则版本"], rows)
    doc.blocks.append(Heading("六、节点情况", 1))
    due = [[m.project_name, m.milestone, m.planned_date.isoformat(), str(m.days), m.unit_name] for m in f.due]
    doc.section("(一)7 日内到期节点", ["项目", "节点", "计划完成日期", "剩余天数", "责任单位"], due, level=2)
    late = [[m.project_name, m.milestone, m.planned_date.isoformat(), str(m.days), m.unit_name] for m in f.overdue]
    doc.section("(二)逾期节点", ["项目", "节点", "计划完成日期", "逾期天数", "责任单位"], late, level=2)
    missing = [[m.unit_name, "、".join(m.project_names), str(len(m.project_names))] for m in f.missing]
    doc.section("七、本周未报进度", ["责任单位", "未报项目", "项目数"], missing)
    exemptions = [
        [e.project_name, e.exemption_id, e.scope, e.reason, e.decided_on.isoformat() if e.decided_on else "",
         "本周批准" if e.this_week else "此前批准"]
        for e in f.exemptions
    ]  # fmt: skip
    doc.section("八、已批准的正当理由豁免", ["项目", "豁免编号", "范围", "理由", "批准日期", "状态"], exemptions)
    doc.blocks.append(Heading("九、上次调度会议定事项落实", 1))
    if f.meeting is None:
        doc.blocks.append(Paragraph("截至报告日尚未召开调度会。"))
    else:
        doc.blocks.append(Paragraph(f.meeting))
        rows = [[d.text, d.owner_unit_name, d.deadline.isoformat(), d.status] for d in f.decisions]
        doc.section("议定事项", ["事项", "责任单位", "完成时限", "落实状态"], rows, level=2)
    problems = [[i.project_name, i.issue_id, i.summary, i.category, i.level, i.lead_unit_name,
                 i.deadline.isoformat() if i.deadline else "", i.status] for i in f.issues]  # fmt: skip
    headers = ["项目", "问题编号", "问题", "类别", "当前层级", "首接负责单位", "办理期限", "状态"]
    doc.section("十、存在问题", headers, problems)
    return doc


def _version(p: WeekProject) -> str:
    return f"v{p.rule_version}" if p.rule_version is not None else ""


def _categories(projects: Sequence[WeekProject]) -> list[str]:
    extra = sorted({p.category for p in projects} - CATEGORY_NAMES.keys())
    return [*CATEGORY_NAMES, *extra]


def _overview(doc: ReportDocument, projects: Sequence[WeekProject]) -> None:
    order = ("red", "yellow", "green", None)
    rows, totals = [], [0] * (len(order) + 1)
    for cat in _categories(projects):
        counts = [sum(1 for p in projects if p.category == cat and _known(p.light) == light) for light in order]
        line = [*counts, sum(counts)]
        totals = [a + b for a, b in zip(totals, line, strict=True)]
        rows.append([CATEGORY_NAMES.get(cat, cat), *map(str, line)])
    rows.append(["合计", *map(str, totals)])
    by_light = "、".join(f"{light_label(light)} {n} 个" for light, n in zip(order, totals, strict=False))
    doc.blocks.append(Heading("一、总体情况(按类别)", 1))
    doc.blocks.append(Paragraph(f"纳入调度项目共 {totals[-1]} 个,其中{by_light}。"))
    doc.blocks.append(Table(["类别", *(light_label(light) for light in order), "合计"], rows))


def _known(light: str | None) -> str | None:
    return light if light in LIGHT_NAMES else None


def _start_and_investment(doc: ReportDocument, projects: Sequence[WeekProject], as_of: date) -> None:
    """开工率 = started / due to start by the report's date; 投资完成率 and 序时进度 against the annual plan."""
    rows = []
    groups = [(CATEGORY_NAMES.get(c, c), [p for p in projects if p.category == c]) for c in _categories(projects)]
    for label, group in [*groups, ("合计", list(projects))]:
        due = [p for p in group if p.planned_start <= as_of and p.phase != "cancelled"]
        started = [p for p in due if p.phase in STARTED_PHASES]
        target = sum((p.annual_target or Decimal(0) for p in group), Decimal(0))
        planned = sum((p.planned_to_date for p in group), Decimal(0))
        done = sum((p.done_this_year for p in group), Decimal(0))
        rows.append([
            label, str(len(group)), str(len(due)), str(len(started)), _pct(Decimal(len(started)), Decimal(len(due))),
            money(target), money(planned), money(done), _pct(done, target), _pct(planned, target),
        ])  # fmt: skip
    headers = ["类别", "项目数", "应开工", "已开工", "开工率", "年度计划投资(万元)", "序时计划投资(万元)",
               "已完成投资(万元)", "投资完成率", "序时进度"]  # fmt: skip
    doc.section("二、开工率与投资完成率(按类别,对照计划)", headers, rows)


def _changes(doc: ReportDocument, projects: Sequence[WeekProject]) -> None:
    rows = []
    for p in projects:
        change = light_change(p.light_before, p.light)
        if change is not None:
            rows.append([p.name, p.unit_name, light_label(p.light_before), light_label(p.light), change,
                         ";".join(p.reasons)])  # fmt: skip
    doc.section("三、本周灯色变化", ["项目名称", "责任单位", "上周", "本周", "变化", "原因"], rows)


def light_change(before: str | None, after: str | None) -> str | None:
    """新增红灯 / 新增黄灯 (or 红灯转黄灯) / 转为绿灯; None when the week changed nothing worth a line."""
    if after == before or after is None:
        return None
    if after == "red":
        return "新增红灯"
    if after == "yellow":
        return "红灯转黄灯" if before == "red" else "新增黄灯"
    if before in ("red", "yellow"):
        return "转为绿灯"
    return None
