"""The supervision bulletin (督查通报) of a period: every project in one of four classes, counted by category and by
county/district (区县), with the list behind each count. Pure: facts in, blocks out (report_document.py renders).

The classes are rule data (`CLASS_RULES`), tried in order, the first that matches wins; the bulletin prints them in
its 分类说明 so a reader knows what each count means:

1. 已完成:   the project is 竣工 or 投产.
2. 无进展:   an active project (前期, 在建, 暂停) that made no progress in the period: no progress report for a period
             ending in it, or only reports with no investment and no milestone done.
3. 进展缓慢: an active project whose light, as shown at the period's end, is red or yellow.
4. 进展顺利: an active project whose light, as shown at the period's end, is green.

A cancelled project is not counted; an active project with progress but no light yet (the monitoring has not rated
it) is counted as 未评价 beside the four classes rather than guessed into one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from services.scheduling.report_document import Heading, Paragraph, ReportDocument
from services.scheduling.reports import CATEGORY_NAMES, light_label

ACTIVE = frozenset({"preliminary", "under_construction", "suspended"})
UNRATED = "未评价"
NOT_COUNTED = frozenset({"cancelled"})
NO_DISTRICT = "未注明区县"


@dataclass(frozen=True)
class ClassRule:
    name: str
    phases: frozenset[str]  # the project's phase is one of these
    progressed: bool | None  # progress in the period: required (True), excluded (False) or either (None)
    lights: frozenset[str] | None  # the light shown at the period's end is one of these (None: any, or none)
    meaning: str  # the rule in words, printed in the bulletin


CLASS_RULES: tuple[ClassRule, ...] = (
    ClassRule("已完成", frozenset({"completed", "in_operation"}), None, None, "项目已竣工或已投产"),
    ClassRule("无进展", ACTIVE, False, None,
              "在建、前期或暂停项目,本期内无进度填报(填报期末不在本期),或填报的本期投资为 0 且无节点完成"),
    ClassRule("进展缓慢", ACTIVE, True, frozenset({"red", "yellow"}), "本期有进展,但期末监测显示红灯或黄灯"),
    ClassRule("进展顺利", ACTIVE, True, frozenset({"green"}), "本期有进展,且期末监测显示绿灯"),
)  # fmt: skip
CLASSES = ("已完成", "进展顺利", "进展缓慢", "无进展")  # as the bulletin prints them (the rules' order differs)


@dataclass(frozen=True)
class BulletinProject:
    name: str
    category: str
    district: str
    unit_name: str
    phase: str
    progressed: bool  # a report in the period with investment or a milestone done
    investment_in_period: str  # 万元, as printed
    light: str | None  # as shown at the period's end
    reasons: list[str]


@dataclass(frozen=True)
class BulletinFacts:
    title: str  # what the bulletin covers: a programme's name, or the year's key projects
    period: str  # 2024-06 or 2024-W23
    period_label: str  # 2024年6月 / 2024年第23周
    start: date
    end: date
    as_of: date  # the period's end, or the platform's today while it runs
    projects: list[BulletinProject]


def classify(p: BulletinProject) -> str | None:
    """The project's class under CLASS_RULES; UNRATED when active with progress but no light; None: not counted."""
    if p.phase in NOT_COUNTED:
        return None
    for rule in CLASS_RULES:
        if p.phase not in rule.phases:
            continue
        if rule.progressed is not None and rule.progressed != p.progressed:
            continue
        if rule.lights is not None and p.light not in rule.lights:
            continue
        return rule.name
    return UNRATED


_CITY_PREFIX = re.compile(r"^[\u4e00-\u9fff]{1,6}?省")
_PREFECTURE = re.compile(r"^[\u4e00-\u9fff]{1,6}?市(?=[\u4e00-\u9fff]{1,8}?[区县市])")
_COUNTY = re.compile(r"^[\u4e00-\u9fff]{1,8}?[区县市]")


def district_of(district: str | None, location: str) -> str:
    """The 区县 a project counts under: the registered one, else the county-level name its location starts with
    (after any province and prefecture: 焦作市马村区待王街道 -> 马村区, 孟州市西虢镇 -> 孟州市)."""
    if district:
        return district
    rest = _PREFECTURE.sub("", _CITY_PREFIX.sub("", location.strip()))
    match = _COUNTY.match(rest)
    return match.group(0) if match else NO_DISTRICT


def build_bulletin(f: BulletinFacts) -> ReportDocument:
    doc = ReportDocument(f"{f.title}督查通报({f.period_label})")
    counted = [(p, cls) for p in f.projects if (cls := classify(p)) is not None]
    columns = [*CLASSES, *([UNRATED] if any(cls == UNRATED for _, cls in counted) else [])]
    doc.blocks.append(Heading(doc.title, 0))
    span = f"统计期 {f.start.isoformat()} 至 {f.end.isoformat()},截至 {f.as_of.isoformat()}"
    doc.blocks.append(Paragraph(span, centred=True))
    totals = {c: sum(1 for _, cls in counted if cls == c) for c in columns}
    summary = "、".join(f"{c} {n} 个" for c, n in totals.items())
    doc.blocks.append(Paragraph(f"纳入通报项目共 {len(counted)} 个,其中{summary}。"))
    rules = [[rule.name, rule.meaning] for rule in CLASS_RULES]
    rules.append([UNRATED, "本期有进展但尚无监测灯色的项目,单列,不计入以上四类;已取消项目不纳入通报"])
    doc.section("一、分类口径", ["分类", "判定规则"], rules)
    categories = [*CATEGORY_NAMES, *sorted({p.category for p, _ in counted} - CATEGORY_NAMES.keys())]
    by_category = [(CATEGORY_NAMES.get(c, c), [cls for p, cls in counted if p.category == c]) for c in categories]
    doc.section("二、按项目类别统计", ["类别", *columns, "合计"], _count_rows(by_category, columns))
    districts = sorted({p.district for p, _ in counted})
    by_district = [(d, [cls for p, cls in counted if p.district == d]) for d in districts]
    doc.section("三、按区县统计", ["区县", *columns, "合计"], _count_rows(by_district, columns))
    doc.blocks.append(Heading("四、项目清单", 1))
    numerals = "一二三四五六七八"
    for i, cls in enumerate(columns):
        listed = [p for p, c in counted if c == cls]
        rows = [[p.name, CATEGORY_NAMES.get(p.category, p.category), p.district, p.unit_name, light_label(p.light),
                 p.investment_in_period, _why(p, cls)] for p in listed]  # fmt: skip
        headers = ["项目名称", "类别", "区县", "责任单位", "期末灯色", "本期投资(万元)", "说明"]
        doc.section(f"({numerals[i]}){cls}({len(listed)} 个)", headers, rows, level=2)
    return doc


def _count_rows(groups: Sequence[tuple[str, list[str]]], columns: Sequence[str]) -> list[list[str]]:
    rows = []
    for label, classes in groups:
        rows.append([label, *(str(classes.count(c)) for c in columns), str(len(classes))])
    every = [cls for _, classes in groups for cls in classes]
    return [*rows, ["合计", *(str(every.count(c)) for c in columns), str(len(every))]]


def _why(p: BulletinProject, cls: str) -> str:
    if cls == "已完成":
        return "已竣工" if p.phase == "completed" else "已投产"
    if cls == "无进展":
        return "本期已暂停" if p.phase == "suspended" else "本期无进展(未填报或无投资、无节点完成)"
    return ";".join(p.reasons)
