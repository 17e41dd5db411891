"""The weekly dispatch report (DOCX) and the ledger (XLSX) downloaded through the API, opened and read."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
from docx import Document

from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body


async def test_weekly_report_and_ledger_contain_the_projects(platform: Platform) -> None:
    hq, unit = auth(platform.tokens["hq"]), auth(platform.tokens["unit-a"])
    late = await platform.project(
        name="红灯示例项目", planned_start="2024-01-01", category="industrial", construction_content="新建智能装备厂房"
    )
    ok = await platform.project(name="绿灯示例项目", planned_start="2024-01-01", category="livelihood")
    await platform.scheduling.post("/v1/plans", json=plan_body(late), headers=unit)
    for pid in (ok,):
        await platform.intake.post(f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"},
                                   headers=hq)  # fmt: skip
        await platform.intake.post(
            f"/v1/projects/{pid}/progress-reports",
            json={"period_start": "2024-05-27", "period_end": "2024-06-02", "investment_this_period": "1700",
                  "image_progress_pct": "45"},
            headers=hq,
        )  # fmt: skip
    await platform.synced()
    await platform.monitor(date(2024, 6, 3))
    await platform.synced()

    r = await platform.scheduling.get("/v1/programmes/prog/weekly-report", params={"as_of": "2024-06-03"}, headers=hq)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    doc = Document(io.BytesIO(r.content))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "2024 三十工程周调度报告" in text and "2024年6月3日" in text
    cells = [[c.text for c in row.cells] for t in doc.tables for row in t.rows]
    red_rows = [row for row in cells if row and row[0] == "红灯示例项目"]
    assert red_rows and any("未开工" in cell or "逾期" in cell for cell in red_rows[0])
    assert any(row[:2] == ["红灯示例项目", "施工许可"] for row in cells)  # 逾期节点 table
    assert not any(row and row[0] == "绿灯示例项目" for row in cells)  # green projects are not listed

    r = await platform.scheduling.get("/v1/programmes/prog/ledger", params={"as_of": "2024-06-03"}, headers=hq)
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["汇总", "工业", "基础设施", "民生"]
    data = []
    for sheet in book.worksheets[1:]:
        rows = [[c.value for c in row] for row in sheet.iter_rows()]
        header = next(row for row in rows if row and row[0] == "序号")
        data += [dict(zip(header, row, strict=True)) for row in rows[rows.index(header) + 1 :] if row[0] is not None]
    by_name = {row["项目名称"]: row for row in data}
    assert set(by_name) == {"红灯示例项目", "绿灯示例项目"}
    assert by_name["绿灯示例项目"]["本年完成投资(万元)"] == 1700
    assert by_name["绿灯示例项目"]["投资完成率"] == 1700 / 4000
    assert by_name["绿灯示例项目"]["灯色"] == "绿灯" and by_name["红灯示例项目"]["灯色"] == "红灯"
    assert by_name["红灯示例项目"]["逾期节点数"] >= 1 and by_name["红灯示例项目"]["规则版本"] == "v1"
    assert by_name["红灯示例项目"]["建设内容"] == "新建智能装备厂房" and by_name["红灯示例项目"]["新建/续建"] == "新建"
    assert by_name["红灯示例项目"]["下一节点"] == "施工许可"  # overdue, still the next one to do
    assert by_name["红灯示例项目"]["当前节点"] is None

    r = await platform.scheduling.get("/v1/programmes/prog/ledger", headers=unit)
    assert r.status_code == 403
    r = await platform.scheduling.get("/v1/programmes/nope/ledger", headers=hq)
    assert r.status_code == 404
    r = await platform.scheduling.get("/v1/programmes/prog/ledger", params={"as_of": "2024-06-04"}, headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"
