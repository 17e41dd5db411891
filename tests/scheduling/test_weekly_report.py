"""The weekly dispatch report of an ISO week, downloaded as DOCX and PDF, opened and read: it shows what was known on
its date (lights and reasons as shown then), and what changed afterwards does not change it.

Week 2024-W23 runs from Monday 3 June to Sunday 9 June 2024. Three projects with known facts:
- 红灯项目甲 (unit-a, industrial): planned to start in March, never started nor reported: red before and in the week.
- 转黄项目乙 (unit-b, infrastructure): building, on plan at the end of May (green: it reported on Friday 24 May,
  on time); its milestone 主体完工 was due on 5 June and not done by the 7 June run: yellow, 新增黄灯. Done on 12 June
  and reported on time, green again after the week.
- 转绿项目丙 (unit-a, livelihood): not started and not reported at the end of May (red); started and reported on plan
  during the week, but its catch-up report of three months came after the 31 May deadline (逾期补报, yellow under
  the default rules, docs/adr/0017): yellow on 7 June, 红灯转黄灯.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import openpyxl
from docx import Document
from pypdf import PdfReader

from tests.platform import auth
from tests.scheduling.conftest import Platform

WEEK = {"week": "2024-W23"}


def _docx_text(content: bytes) -> tuple[list[str], list[list[str]]]:
    doc = Document(io.BytesIO(content))
    return [p.text for p in doc.paragraphs], [[c.text for c in row.cells] for t in doc.tables for row in t.rows]


def _row(cells: list[list[str]], first: str, *, index: int = 0) -> list[str]:
    found = [row for row in cells if row and row[0] == first]
    assert len(found) > index, (first, cells)
    return found[index]


async def _post(platform: Platform, path: str, body: dict[str, Any], token: str, service: str = "scheduling") -> Any:
    client = platform.scheduling if service == "scheduling" else platform.intake
    r = await client.post(path, json=body, headers=auth(platform.tokens[token]))
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


async def _report(platform: Platform, token: str = "hq", **params: str) -> bytes:
    r = await platform.scheduling.get(
        "/v1/programmes/prog/weekly-report", params={**WEEK, **params}, headers=auth(platform.tokens[token])
    )
    assert r.status_code == 200, r.text
    return r.content


async def _ledger(platform: Platform, as_of: str) -> bytes:
    r = await platform.scheduling.get(
        "/v1/programmes/prog/ledger", params={"as_of": as_of}, headers=auth(platform.tokens["hq"])
    )
    assert r.status_code == 200, r.text
    return r.content


def _ledger_light(platform: Platform, content: bytes, sheet: str) -> tuple[str, str]:
    """(灯色, 规则版本) of the only project of a category sheet."""
    rows = list(openpyxl.load_workbook(io.BytesIO(content))[sheet].iter_rows(min_row=2, values_only=True))
    header, [row] = rows[0], rows[1:]
    record = dict(zip(header, row, strict=True))
    return record["灯色"], record["规则版本"]


async def _scenario(platform: Platform) -> dict[str, str]:
    platform.clock.set_day(date(2024, 5, 24), hour=10)  # Friday, before the 17:00 deadline
    a = await platform.project(name="红灯项目甲", planned_start="2024-03-01", category="industrial")
    b = await platform.project(name="转黄项目乙", planned_start="2024-01-01", category="infrastructure",
                               unit_id="unit-b", sponsor_leader_id="leader-a")  # fmt: skip
    c = await platform.project(name="转绿项目丙", planned_start="2024-03-01", category="livelihood")
    await _post(platform, f"/v1/projects/{b}/phase", {"phase": "under_construction", "reason": "开工"}, "hq", "intake")
    milestones = [
        {"milestone_id": "permit", "name": "施工许可", "planned_date": "2024-03-31", "unit_id": "unit-b"},
        {"milestone_id": "topping", "name": "主体完工", "planned_date": "2024-06-05", "unit_id": "unit-b"},
        {"milestone_id": "acceptance", "name": "竣工验收", "planned_date": "2024-06-14", "unit_id": "unit-b"},
    ]
    body = {"project_id": b, "year": 2024, "annual_target_investment": "1200", "monthly_investment": ["100"] * 12,
            "milestones": milestones}  # fmt: skip
    plan = await _post(platform, "/v1/plans", body, "unit-b")
    plan_id = plan["id"]
    await _post(platform, f"/v1/plans/{plan_id}/milestones/permit/complete", {"done_on": "2024-03-28"}, "unit-b")
    body = {"scope": "period", "period_start": "2024-01-10", "period_end": "2024-01-15", "reason": "春节前寒潮停工",
            "evidence": ["气象局寒潮预警"]}  # fmt: skip
    exemption = await _post(platform, f"/v1/plans/{plan_id}/exemptions", body, "unit-b")
    await _post(platform, f"/v1/plans/{plan_id}/exemptions/{exemption['exemption_id']}/approve", {}, "hq")
    await _post(platform, f"/v1/projects/{b}/progress-reports", {
        "period_start": "2024-01-01", "period_end": "2024-05-24", "investment_this_period": "500",
        "image_progress_pct": "40"}, "unit-b", "intake")  # fmt: skip
    await platform.synced()
    await platform.monitor(date(2024, 5, 31))

    # During the week: 丙 starts and reports on plan, 乙 reports, a city meeting decides two things.
    platform.clock.set_day(date(2024, 6, 4))
    await _post(platform, f"/v1/projects/{c}/phase", {"phase": "under_construction", "reason": "开工"}, "hq", "intake")
    await _post(platform, f"/v1/projects/{c}/progress-reports", {
        "period_start": "2024-03-01", "period_end": "2024-06-06", "investment_this_period": "1300",
        "image_progress_pct": "10"}, "unit-a", "intake")  # fmt: skip
    await _post(platform, f"/v1/projects/{b}/progress-reports", {
        "period_start": "2024-06-01", "period_end": "2024-06-07", "investment_this_period": "60",
        "image_progress_pct": "45"}, "unit-b", "intake")  # fmt: skip
    meeting = await _post(platform, "/v1/meetings", {"kind": "weekly", "title": "第23周调度会", "programme_id": "prog",
                                                     "scheduled_for": "2024-06-04T09:00:00+08:00"}, "hq")  # fmt: skip
    for text, owner, deadline, project in (("6月底前办理施工许可", "unit-a", "2024-06-30", a),
                                           ("限期完成主体", "unit-b", "2024-06-06", b)):  # fmt: skip
        body = {"text": text, "owner_unit_id": owner, "deadline": deadline, "project_id": project}
        await _post(platform, f"/v1/meetings/{meeting['id']}/decisions", body, "hq")
    await platform.synced()
    await platform.monitor(date(2024, 6, 7))
    await platform.synced()
    platform.clock.set_day(date(2024, 6, 10))  # the week is over: the report is dated its Sunday
    return {"a": a, "b": b, "c": c, "plan": plan_id}


async def _after_the_week(platform: Platform, ids: dict[str, str]) -> None:
    """乙 finishes its milestones and reports on time, rules get stricter, a later meeting: none of it may change the
    W23 report."""
    platform.clock.set_day(date(2024, 6, 14), hour=10)  # Friday, before the 17:00 deadline
    for milestone, done_on in (("topping", "2024-06-12"), ("acceptance", "2024-06-14")):
        path = f"/v1/plans/{ids['plan']}/milestones/{milestone}/complete"
        await _post(platform, path, {"done_on": done_on}, "unit-b")
    await _post(platform, f"/v1/projects/{ids['b']}/progress-reports", {
        "period_start": "2024-06-08", "period_end": "2024-06-14", "investment_this_period": "120",
        "image_progress_pct": "60"}, "unit-b", "intake")  # fmt: skip
    platform.clock.set_day(date(2024, 6, 20))
    stricter = {"effective_from": "2024-06-15", "rules": {"late_start_red_months": 2}, "note": "从严"}
    await _post(platform, "/v1/rules", stricter, "hq")
    await _post(platform, "/v1/meetings", {"kind": "weekly", "title": "第24周调度会", "programme_id": "prog",
                                           "scheduled_for": "2024-06-12T09:00:00+08:00"}, "hq")  # fmt: skip
    await platform.synced()
    await platform.monitor(date(2024, 6, 20))
    await platform.synced()
    now = (await platform.scheduling.get(f"/v1/projects/{ids['b']}/light", headers=auth(platform.tokens["hq"]))).json()
    assert now["colour"] == "green", now  # the light did change after the week
    now = (await platform.scheduling.get(f"/v1/projects/{ids['a']}/light", headers=auth(platform.tokens["hq"]))).json()
    assert now["rule_version"] == 2, now


async def test_weekly_report_shows_the_week_as_it_was(platform: Platform) -> None:
    ids = await _scenario(platform)
    first = await _report(platform)
    paragraphs, cells = _docx_text(first)
    assert paragraphs[0] == "2024 三十工程周调度报告"
    assert "2024年第23周(2024年6月3日至2024年6月9日)  截至 2024年6月9日" in paragraphs[1]
    assert "纳入调度项目共 3 个,其中红灯 1 个、黄灯 2 个、绿灯 0 个、未评价 0 个。" in paragraphs

    red = _row(cells, "红灯项目甲")  # 甲 did not change this week: its only row is in 四、红灯项目
    assert "已逾期 3 个月" in red[3] and red[4] == "v1", red
    yellow = _row(cells, "转黄项目乙")
    assert yellow[2:5] == ["绿灯", "黄灯", "新增黄灯"] and "主体完工" in yellow[5], yellow
    assert _row(cells, "转绿项目丙")[2:5] == ["红灯", "黄灯", "红灯转黄灯"]
    assert "逾期补报" in _row(cells, "转绿项目丙")[5]
    assert not any(row[4:5] == ["新增红灯"] for row in cells)  # 甲 was red already
    # 开工率 and 投资完成率 against plan (by hand): due to start 3, started 2; plan 4000 + 1200 + 4000 万元;
    # 序时 by 9 June: 甲 and 丙 400 a month from March (1200 + 120), 乙 100 a month (500 + 30); done 560 + 1300.
    assert _row(cells, "合计", index=1) == [
        "合计", "3", "3", "2", "66.7%", "9,200.00", "3,170.00", "1,860.00", "20.2%", "34.5%"
    ]  # fmt: skip
    assert _row(cells, "转黄项目乙", index=2)[1:4] == ["竣工验收", "2024-06-14", "5"]  # due within 7 days
    assert ["转黄项目乙", "主体完工", "2024-06-05", "4", "责任单位乙"] in cells  # overdue on 9 June
    assert ["责任单位甲", "红灯项目甲", "1"] in cells  # 本周未报: 丙 and 乙 reported for a period ending in the week
    assert not any(row[0] == "责任单位乙" and "转黄项目乙" in row[1] for row in cells)
    exemption = ["2024-01-10 至 2024-01-15", "春节前寒潮停工", "2024-05-24", "此前批准"]  # granted on 24 May
    assert _row(cells, "转黄项目乙", index=4)[2:] == exemption
    assert "第23周调度会(2024-06-04)" in paragraphs
    assert ["限期完成主体", "责任单位乙", "2024-06-06", "已过完成时限,待反馈"] in cells
    assert ["6月底前办理施工许可", "责任单位甲", "2024-06-30", "未到完成时限"] in cells

    await _after_the_week(platform, ids)
    assert _docx_text(await _report(platform)) == (paragraphs, cells)
    # The ledger of a date shows the lights of that date too.
    assert _ledger_light(platform, await _ledger(platform, "2024-06-09"), "基础设施") == ("黄灯", "v1")
    assert _ledger_light(platform, await _ledger(platform, "2024-06-20"), "基础设施") == ("绿灯", "v2")

    pdf = PdfReader(io.BytesIO(await _report(platform, format="pdf")))
    text = "".join("".join(page.extract_text().split()) for page in pdf.pages)  # cells wrap long text anywhere
    expected_text = ("2024 三十工程周调度报告", "红灯项目甲", "已逾期 3 个月", "新增黄灯", "红灯转黄灯", "限期完成主体")
    for expected in expected_text:
        assert expected.replace(" ", "") in text, expected
    assert "第24周调度会" not in text


async def test_a_unit_downloads_the_report_of_its_own_projects(platform: Platform) -> None:
    await _scenario(platform)
    paragraphs, cells = _docx_text(await _report(platform, "unit-a"))
    names = {row[0] for row in cells}
    assert {"红灯项目甲", "转绿项目丙"} <= names and "转黄项目乙" not in names
    assert "本报告仅含责任单位甲负责的项目。" in paragraphs
    assert ["6月底前办理施工许可", "责任单位甲", "2024-06-30", "未到完成时限"] in cells
    assert not any(row[0] == "限期完成主体" for row in cells)
    _, cells = _docx_text(await _report(platform, "unit-b"))
    assert "转黄项目乙" in {row[0] for row in cells} and "红灯项目甲" not in {row[0] for row in cells}

    hq = auth(platform.tokens["hq"])
    refused = [({"week": "2024-W30"}, "week"), ({"week": "2023-W53"}, "week"),
               ({"week": "2024-W23", "as_of": "2024-06-05"}, "as_of"), ({"as_of": "2024-07-01"}, "as_of")]  # fmt: skip
    for params, field in refused:
        r = await platform.scheduling.get("/v1/programmes/prog/weekly-report", params=params, headers=hq)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (params, r.text)
    r = await platform.scheduling.get("/v1/programmes/prog/weekly-report", params={"format": "odt"}, headers=hq)
    assert r.status_code == 422
