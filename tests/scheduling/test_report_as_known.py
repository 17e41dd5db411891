"""Reports as known on their date (docs/adr/0017): one clock stamps every event's recorded_at, and the weekly report
and the supervision bulletin of a date take only what was recorded by the end of that day.

Week 2024-W23 (3 to 9 June 2024; deadline Friday 7 June 17:00), one clock for intake and scheduling:
- 迟报项目甲 (unit-a, industrial, 前期): reports nothing by 9 June; on 11 June it starts (在建) and files its W23
  report (300 万元), late.
- 更正项目乙 (unit-a, infrastructure, 在建): plan of 100 万元 a month, milestone 主体完工 due 5 June; files 500 万元
  on Friday 7 June 10:00 (on time). On 11 June it corrects the figure to 800, completes 主体完工 (done 5 June) and
  gets an exemption for 1 to 5 June approved.
The W23 report and the June bulletin generated on 10 June and again after 11 June are the same; the W24 report
(dated 16 June) shows what came on 11 June, so the first comparison is not vacuous. Likewise for the figures the
report plans against: 乙's draft plan revised, and 甲's planned investment, planned start and location amended on
11 June (two change requests approved by hq, and hq's own amendment).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

from docx import Document
from pypdf import PdfReader

from shared.catalogue import CATALOGUE
from shared.catalogue.scheduling import Colour, RuleVersionPublished
from tests.platform import auth, wait_until
from tests.scheduling.conftest import Platform


def _docx(content: bytes) -> tuple[list[str], list[list[str]]]:
    doc = Document(io.BytesIO(content))
    return [p.text for p in doc.paragraphs], [[c.text for c in row.cells] for t in doc.tables for row in t.rows]


def _pdf_text(content: bytes) -> str:
    return "".join("".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def _row(cells: list[list[str]], first: str, index: int = 0) -> list[str]:
    found = [row for row in cells if row and row[0] == first]
    assert len(found) > index, (first, cells)
    return found[index]


async def _post(platform: Platform, path: str, body: dict[str, Any], token: str, service: str = "scheduling") -> Any:
    client = platform.scheduling if service == "scheduling" else platform.intake
    r = await client.post(path, json=body, headers=auth(platform.tokens[token]))
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


async def _get(platform: Platform, path: str, **params: str) -> bytes:
    r = await platform.scheduling.get(path, params=params, headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    return r.content


async def _reports_of(platform: Platform, week: str) -> tuple[bytes, bytes, bytes]:
    weekly = "/v1/programmes/prog/weekly-report"
    bulletin = "/v1/reports/supervision-bulletin"
    return (
        await _get(platform, weekly, week=week),
        await _get(platform, weekly, week=week, format="pdf"),
        await _get(platform, bulletin, period=week, programme_id="prog"),
    )


async def _week_23(platform: Platform) -> dict[str, str]:
    platform.clock.set_day(date(2024, 6, 3), hour=9)
    late = await platform.project(name="迟报项目甲", planned_start="2024-01-01", category="industrial")
    fixed = await platform.project(name="更正项目乙", planned_start="2024-01-01", category="infrastructure")
    await _post(platform, f"/v1/projects/{fixed}/phase", {"phase": "under_construction", "reason": "开工"}, "hq",
                "intake")  # fmt: skip
    milestones = [{"milestone_id": "topping", "name": "主体完工", "planned_date": "2024-06-05", "unit_id": "unit-a"}]
    body = {"project_id": fixed, "year": 2024, "annual_target_investment": "1200", "monthly_investment": ["100"] * 12,
            "milestones": milestones}  # fmt: skip
    plan_id = (await _post(platform, "/v1/plans", body, "unit-a"))["id"]
    platform.clock.set_day(date(2024, 6, 7), hour=10)
    report = await _post(platform, f"/v1/projects/{fixed}/progress-reports", {
        "period_start": "2024-01-01", "period_end": "2024-06-07", "investment_this_period": "500",
        "image_progress_pct": "40"}, "unit-a", "intake")  # fmt: skip
    await platform.synced()
    await platform.monitor(date(2024, 6, 7))
    await platform.synced()
    return {"late": late, "fixed": fixed, "plan": plan_id, "report": report["report_id"]}


async def _on_11_june(platform: Platform, ids: dict[str, str]) -> None:
    platform.clock.set_day(date(2024, 6, 11), hour=10)
    await _post(platform, f"/v1/projects/{ids['late']}/phase", {"phase": "under_construction", "reason": "开工"},
                "hq", "intake")  # fmt: skip
    await _post(platform, f"/v1/projects/{ids['late']}/progress-reports", {
        "period_start": "2024-06-03", "period_end": "2024-06-09", "investment_this_period": "300",
        "image_progress_pct": "5"}, "unit-a", "intake")  # fmt: skip
    await _post(platform, f"/v1/projects/{ids['fixed']}/progress-reports/{ids['report']}/corrections",
                {"reason": "漏报设备款", "investment_this_period": "800"}, "unit-a", "intake")  # fmt: skip
    await _post(platform, f"/v1/plans/{ids['plan']}/milestones/topping/complete", {"done_on": "2024-06-05"}, "unit-a")
    body = {"scope": "period", "period_start": "2024-06-01", "period_end": "2024-06-05", "reason": "暴雨停工",
            "evidence": ["气象局暴雨红色预警"]}  # fmt: skip
    exemption = await _post(platform, f"/v1/plans/{ids['plan']}/exemptions", body, "unit-a")
    await _post(platform, f"/v1/plans/{ids['plan']}/exemptions/{exemption['exemption_id']}/approve", {}, "hq")
    await platform.synced()


async def test_reports_of_a_date_leave_out_what_was_recorded_later(platform: Platform) -> None:
    ids = await _week_23(platform)
    platform.clock.set_day(date(2024, 6, 10), hour=9)
    weekly, pdf, bulletin = await _reports_of(platform, "2024-W23")
    paragraphs, cells = _docx(weekly)
    assert "2024年第23周(2024年6月3日至2024年6月9日)  截至 2024年6月9日" in paragraphs[1]
    # 开工率: 乙 building, 甲 not yet; 乙's 500 万元 counted: plan 2400, done 500.
    assert _row(cells, "合计", 1)[1:5] == ["2", "2", "1", "50.0%"] and _row(cells, "合计", 1)[7] == "500.00"
    assert ["责任单位甲", "迟报项目甲", "1"] in cells  # 本周未报
    assert ["更正项目乙", "主体完工", "2024-06-05", "4", "责任单位甲"] in cells  # overdue on 9 June
    assert not any("暴雨停工" in cell for row in cells for cell in row)  # no exemption granted by then

    await _on_11_june(platform, ids)
    again = await _reports_of(platform, "2024-W23")
    assert _docx(again[0]) == (paragraphs, cells) and _docx(again[2]) == _docx(bulletin)
    assert _pdf_text(again[1]) == _pdf_text(pdf) and "迟报项目甲" in _pdf_text(pdf)

    # The next week's report knows all of it: 甲 started, 乙's corrected 800 and its milestone and exemption.
    platform.clock.set_day(date(2024, 6, 17), hour=9)
    _, later = _docx((await _reports_of(platform, "2024-W24"))[0])
    assert _row(later, "合计", 1)[1:5] == ["2", "2", "2", "100.0%"] and _row(later, "合计", 1)[7] == "1,100.00"
    assert not any(row[:2] == ["更正项目乙", "主体完工"] for row in later)
    [granted] = [row for row in later if "暴雨停工" in row]
    assert granted[2:] == ["2024-06-01 至 2024-06-05", "暴雨停工", "2024-06-11", "本周批准"]


async def test_the_list_of_a_date_names_a_project_whose_report_came_later(platform: Platform) -> None:
    ids = await _week_23(platform)
    await _on_11_june(platform, ids)
    hq = auth(platform.tokens["hq"])
    r = await platform.scheduling.get("/v1/reporting/missing", params={"week": "2024-W23"}, headers=hq)
    assert {(i["project_id"], i["status"]) for i in r.json()["items"]} == {(ids["late"], "late")}
    await platform.project(name="新登记项目丁", planned_start="2024-01-01", category="livelihood")  # on 11 June
    platform.clock.set_day(date(2024, 6, 12), hour=9)
    _, cells = _docx(await _get(platform, "/v1/programmes/prog/weekly-report", week="2024-W23"))
    assert ["责任单位甲", "迟报项目甲", "1"] in cells  # on 9 June it had not reported
    assert not any("新登记项目丁" in cell for row in cells for cell in row)  # registered after the report's date
    bulletin = await _get(platform, "/v1/reports/supervision-bulletin", period="2024-W23", programme_id="prog")
    assert not any("新登记项目丁" in cell for row in _docx(bulletin)[1] for cell in row)
    platform.clock.set_day(date(2024, 6, 17), hour=9)
    _, later = _docx(await _get(platform, "/v1/programmes/prog/weekly-report", week="2024-W24"))
    assert any("新登记项目丁" in cell for row in later for cell in row)


async def test_one_clock_stamps_record_time_and_a_late_report_lights_yellow(platform: Platform) -> None:
    ids = await _week_23(platform)
    # The report's event was recorded at the platform's time (the test clock), not the wall clock's.
    events = await platform.intake_rt.store.read_aggregate("project", ids["fixed"])
    [reported] = [e for e in events if e.envelope.type == "ProgressReported"]
    assert reported.envelope.recorded_at == datetime(2024, 6, 7, 2, tzinfo=UTC)  # 10:00 China time

    await _on_11_june(platform, ids)
    await platform.monitor(date(2024, 6, 12))
    await platform.synced()
    r = await platform.scheduling.get(f"/v1/projects/{ids['late']}/light", headers=auth(platform.tokens["hq"]))
    reporting = r.json()["reporting"]
    assert reporting["colour"] == "yellow", r.json()  # the default rules: 逾期补报 is yellow
    assert reporting["reasons"][0] == "2024年第23周进度逾期补报(截止 2024-06-07 周五 17:00,2024-06-11 10:00 报送)"


def test_rule_versions_published_before_the_yellow_default_keep_their_green() -> None:
    old = {"version": 2, "effective_from": "2024-01-01", "rules": {"report_deadline_weekday": 7}, "note": ""}
    v1 = CATALOGUE.load_payload("RuleVersionPublished", 1, old)
    assert isinstance(v1, RuleVersionPublished) and v1.rules.report_filed_late_colour == Colour.GREEN
    v2 = CATALOGUE.load_payload("RuleVersionPublished", 2, old)
    assert isinstance(v2, RuleVersionPublished) and v2.rules.report_filed_late_colour == Colour.YELLOW
    said = {**old, "rules": {"report_filed_late_colour": "red"}}
    assert CATALOGUE.load_payload("RuleVersionPublished", 1, said).rules.report_filed_late_colour == Colour.RED  # type: ignore[attr-defined]


async def _revised_and_amended_on_11_june(platform: Platform, ids: dict[str, str]) -> None:
    """乙's draft plan is revised to 2400 万元 (200 a month); hq approves 甲's change requests (年度计划投资 4000 ->
    6000, planned start 1 January -> 1 July) and 丙's suspension (暂停), and moves 甲 from 马村区 to 孟州市 itself."""
    platform.clock.set_day(date(2024, 6, 11), hour=10)
    milestones = [{"milestone_id": "topping", "name": "主体完工", "planned_date": "2024-06-05", "unit_id": "unit-a"}]
    revised = {"annual_target_investment": "2400", "monthly_investment": ["200"] * 12, "milestones": milestones}
    r = await platform.scheduling.put(f"/v1/plans/{ids['plan']}", json=revised, headers=auth(platform.tokens["unit-a"]))
    assert r.status_code == 200, r.text
    for project, request in (
        (ids["late"], {"kind": "planned_investment", "reason": "设计变更", "annual_planned_investment": "6000"}),
        (ids["late"], {"kind": "planned_dates", "reason": "征地延期", "planned_start": "2024-07-01"}),
        (ids["suspended"], {"kind": "suspend", "reason": "资金未到位"}),
    ):
        filed = await _post(platform, f"/v1/projects/{project}/change-requests", request, "unit-a", "intake")
        decision = {"decision": "approve", "reason": "经研究同意"}
        await _post(platform, f"/v1/change-requests/{filed['id']}/decision", decision, "hq", "intake")

    async def all_applied() -> bool:  # intake's reaction applies each approval to its project
        events = [e for project in (ids["late"], ids["suspended"])
                  for e in await platform.intake_rt.store.read_aggregate("project", project)]  # fmt: skip
        return sum(e.envelope.payload.get("change_request_id") is not None for e in events) == 3

    await wait_until(all_applied, 15, "the approved changes")
    r = await platform.intake.patch(f"/v1/projects/{ids['late']}", json={"location": "孟州市西虢镇"},
                                    headers=auth(platform.tokens["hq"]))  # fmt: skip
    assert r.status_code == 200, r.text
    await platform.synced()


def _mentions(cells: list[list[str]], text: str) -> bool:
    return any(text in cell for row in cells for cell in row)


async def test_reports_of_a_date_plan_against_the_figures_in_force_then(platform: Platform) -> None:
    ids = await _week_23(platform)
    ids["suspended"] = await platform.project(name="暂停项目丙", planned_start="2024-01-01", category="livelihood")
    platform.clock.set_day(date(2024, 6, 10), hour=9)
    weekly, pdf, bulletin = await _reports_of(platform, "2024-W23")
    _, cells = _docx(weekly)
    # 应开工 3 (all planned to start on 1 January); 年度计划投资 1200 (乙's plan) + 4000 (甲's and 丙's own, no
    # plan); 序时 on 9 June: 乙 5 months of 100 and 9/30 of June, 甲 and 丙 4000/12 a month likewise.
    total = _row(cells, "合计", 1)
    assert (total[2], total[5], total[6]) == ("3", "9,200.00", "4,063.33"), total
    [missing] = [row for row in cells if row[0] == "责任单位甲" and row[-1] == "2"]  # 本周未报: 甲 and 丙
    assert set(missing[1].split("、")) == {"迟报项目甲", "暂停项目丙"}
    _, districts = _docx(bulletin)
    assert _mentions(districts, "马村区") and not _mentions(districts, "孟州市")

    await _revised_and_amended_on_11_june(platform, ids)
    again = await _reports_of(platform, "2024-W23")
    assert _docx(again[0]) == _docx(weekly) and _docx(again[2]) == _docx(bulletin)
    assert _pdf_text(again[1]) == _pdf_text(pdf)

    # The next week's report plans against the new figures: 甲 is due to start only on 1 July (nothing planned
    # by 16 June), 乙 at 200 a month; 丙, suspended, owes no report.
    platform.clock.set_day(date(2024, 6, 17), hour=9)
    later, _, later_bulletin = await _reports_of(platform, "2024-W24")
    _, later_cells = _docx(later)
    total = _row(later_cells, "合计", 1)
    assert (total[2], total[5], total[6]) == ("2", "12,400.00", "2,951.11"), total
    assert not _mentions([row for row in later_cells if row[0] == "责任单位甲"], "暂停项目丙")
    assert _mentions(_docx(later_bulletin)[1], "孟州市")
