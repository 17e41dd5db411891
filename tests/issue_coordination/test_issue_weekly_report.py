"""The weekly dispatch report lists 存在问题 (issues still awaiting their answer at the end of its date) and the
落实状态 of each decision of the last meeting from its tracked item, both as recorded by the end of that day: what
was recorded in the following week changes the next report, not this one."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date

import pytest
from docx import Document

from services.scheduling.weekly_data import ReportWeek, weekly_facts
from services.scheduling.weekly_report import WeeklyFacts
from shared.settings import Settings
from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.issue_coordination.quiet import quiet_platform_of
from tests.issue_coordination.test_meeting_decisions import decide, meeting


@pytest.fixture
async def quiet_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as platform:
        yield platform


async def facts(p: Platform, week: str, as_of: date) -> WeeklyFacts:
    rt = p.scheduling_rt
    async with rt.pool.acquire() as conn:
        return await weekly_facts(conn, rt.schema, "prog", ReportWeek.parse(week), as_of, None)


async def item_of(p: Platform, decision_id: str) -> str:
    r = await p.issues.get("/v1/issues", params={"limit": 500}, headers=p.h("hq"))
    found = [i["id"] for i in r.json()["items"] if i["decision_id"] == decision_id]
    assert len(found) == 1, found
    return found[0]


async def test_weekly_report_lists_open_issues_and_decision_status_as_known(quiet_platform: Platform) -> None:
    p = quiet_platform
    p.clock.set_day(date(2024, 1, 2), hour=9)  # registered before the weeks it is reported in
    project_id = await p.project(name="焦作东站综合枢纽")
    land = await p.raise_issue(project_id, description="征地拆迁补偿标准未确定")
    power = await p.raise_issue(project_id, description="施工用电增容未批复", category="utilities")
    for issue_id in (land, power):
        await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await p.act(land, "escalations", "hq", {"reason": "协调不力", "to_level": "hq"})
    await p.act(power, "acceptance", "unit-b")

    p.clock.set_day(date(2024, 1, 10), hour=10)  # week 2: the meeting and its decisions
    meeting_id = await meeting(p, ["unit-b"])
    land_decision = await decide(p, meeting_id, "月底前完成用地手续", "unit-a", project_id)
    list_decision = await decide(p, meeting_id, "梳理用地需求清单", "unit-b")
    await p.synced()
    await p.act(await item_of(p, list_decision), "acceptance", "unit-b")
    await p.act(power, "resolution", "unit-b", {"answer": "增容已批复"})

    p.clock.set_day(date(2024, 1, 16), hour=10)  # week 3: what changes after week 2's report
    await p.act(land, "acceptance", "unit-b")
    await p.act(land, "resolution", "unit-b", {"answer": "补偿标准已确定"})
    await p.act(await item_of(p, land_decision), "acceptance", "unit-a")
    await p.act(await item_of(p, list_decision), "resolution", "unit-b", {"answer": "清单已报送"})
    later = await p.raise_issue(project_id, description="环评批复待省厅审查", category="environment")
    await p.synced()

    week2 = await facts(p, "2024-W02", date(2024, 1, 14))
    assert [(i.issue_id, i.summary, i.category, i.level, i.lead_unit_name, i.status) for i in week2.issues] == [
        (land, "征地拆迁补偿标准未确定", "用地", "指挥部办公室", "责任单位乙", "已交办待受理,已超期")
    ]  # fmt: skip
    # Escalated on 01-02, the issue's deadline is hq's level's (working days from the rules), passed by 01-14.
    assert week2.issues[0].deadline is not None and week2.issues[0].deadline < date(2024, 1, 14)
    assert {d.text: d.status for d in week2.decisions} == {
        "月底前完成用地手续": "已交办待受理", "梳理用地需求清单": "办理中"
    }  # fmt: skip

    week3 = await facts(p, "2024-W03", date(2024, 1, 16))
    assert [(i.issue_id, i.level, i.status) for i in week3.issues] == [(later, "待交办", "已提出待交办")]
    assert {d.text: d.status for d in week3.decisions} == {
        "月底前完成用地手续": "办理中", "梳理用地需求清单": "已办结待确认"
    }  # fmt: skip

    r = await p.scheduling.get("/v1/programmes/prog/weekly-report", params={"week": "2024-W02"}, headers=p.h("hq"))
    assert r.status_code == 200, r.text
    doc = Document(io.BytesIO(r.content))
    cells = [[c.text for c in row.cells] for t in doc.tables for row in t.rows]
    assert ["焦作东站综合枢纽", land, "征地拆迁补偿标准未确定", "用地", "指挥部办公室", "责任单位乙",
            week2.issues[0].deadline.isoformat(), "已交办待受理,已超期"] in cells  # fmt: skip
    assert ["梳理用地需求清单", "责任单位乙", "2024-01-31", "办理中"] in cells
    assert any(paragraph.text == "十、存在问题" for paragraph in doc.paragraphs)
