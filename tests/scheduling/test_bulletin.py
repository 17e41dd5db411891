"""The supervision bulletin (督查通报): the four classes as rule data, 区县 from the registration or the location, and
the DOCX of a period downloaded, opened and read against a scenario with known facts (June 2024, then July).

June 2024, lights from the 28 June run (400 万元 a month planned from March for every project); the reports are
filed on 21 June, on time for that week (a report recorded late would light the reporting dimension yellow):
- 顺利项目 (industrial, 焦作市马村区待王街道): building, reported 1600 by 20 June: green, 进展顺利.
- 缓慢项目 (industrial, 马村区): building, reported only 500 by 20 June: yellow (26.8 points behind), 进展缓慢.
- 无进展项目 (infrastructure, 高新区): never started nor reported: 无进展.
- 已竣工项目 (livelihood, district registered as 孟州市): 竣工: 已完成.
- 已取消项目 (livelihood): cancelled, not counted.
In July 无进展项目 starts and reports: the June bulletin must not change, the July one shows it.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from docx import Document
from pypdf import PdfReader

from services.scheduling.bulletin import BulletinProject, classify, district_of
from tests.platform import auth
from tests.scheduling.conftest import Platform


@pytest.mark.parametrize(
    ("district", "location", "expected"),
    [
        (None, "马村区", "马村区"), (None, "焦作市马村区待王街道", "马村区"),
        (None, "河南省焦作市修武县城关镇", "修武县"),
        (None, "孟州市西虢镇", "孟州市"), ("示范区", "焦作市山阳区", "示范区"), (None, "待定", "未注明区县"),
    ],
)  # fmt: skip
def test_district_of(district: str | None, location: str, expected: str) -> None:
    assert district_of(district, location) == expected


def _project(phase: str, progressed: bool, light: str | None) -> BulletinProject:
    return BulletinProject("项目", "industrial", "马村区", "单位", phase, progressed, "0.00", light, [])


@pytest.mark.parametrize(
    ("phase", "progressed", "light", "expected"),
    [
        ("completed", False, "green", "已完成"), ("in_operation", True, None, "已完成"),
        ("under_construction", False, "green", "无进展"), ("preliminary", False, "red", "无进展"),
        ("suspended", False, None, "无进展"), ("under_construction", True, "red", "进展缓慢"),
        ("under_construction", True, "yellow", "进展缓慢"), ("under_construction", True, "green", "进展顺利"),
        ("under_construction", True, None, "未评价"), ("cancelled", False, "green", None),
    ],
)  # fmt: skip
def test_classes_follow_the_rules_in_order(phase: str, progressed: bool, light: str | None, expected: str) -> None:
    assert classify(_project(phase, progressed, light)) == expected


async def _post(platform: Platform, client: Any, path: str, body: dict[str, Any], token: str = "hq") -> None:
    r = await client.post(path, json=body, headers=auth(platform.tokens[token]))
    assert r.status_code in (200, 201), (path, r.text)


async def _phase(platform: Platform, pid: str, *phases: str) -> None:
    for phase in phases:
        await _post(platform, platform.intake, f"/v1/projects/{pid}/phase", {"phase": phase, "reason": "阶段变更"})


async def _report_progress(platform: Platform, pid: str, start: str, end: str, investment: str) -> None:
    body = {"period_start": start, "period_end": end, "investment_this_period": investment, "image_progress_pct": "20"}
    await _post(platform, platform.intake, f"/v1/projects/{pid}/progress-reports", body, "unit-a")


async def _bulletin(platform: Platform, period: str, **params: str) -> bytes:
    r = await platform.scheduling.get(
        "/v1/reports/supervision-bulletin", params={"period": period, **params}, headers=auth(platform.tokens["hq"])
    )
    assert r.status_code == 200, r.text
    return r.content


def _read(content: bytes) -> tuple[list[str], list[list[str]]]:
    doc = Document(io.BytesIO(content))
    return [p.text for p in doc.paragraphs], [[c.text for c in row.cells] for t in doc.tables for row in t.rows]


async def test_bulletin_counts_by_category_and_district_with_the_lists(platform: Platform) -> None:
    platform.clock.set_day(date(2024, 6, 21))
    smooth = await platform.project(name="顺利项目", category="industrial", location="焦作市马村区待王街道")
    slow = await platform.project(name="缓慢项目", category="industrial", location="马村区")
    stalled = await platform.project(name="无进展项目", category="infrastructure", location="高新区")
    done = await platform.project(name="已竣工项目", category="livelihood", location="西虢镇", district="孟州市")
    dropped = await platform.project(name="已取消项目", category="livelihood", location="马村区")
    await _phase(platform, smooth, "under_construction")
    await _phase(platform, slow, "under_construction")
    await _phase(platform, done, "under_construction", "completed")
    await _phase(platform, dropped, "cancelled")
    await _report_progress(platform, smooth, "2024-03-01", "2024-06-20", "1600")
    await _report_progress(platform, slow, "2024-03-01", "2024-06-20", "500")
    await platform.synced()
    await platform.monitor(date(2024, 6, 28))
    await platform.synced()
    platform.clock.set_day(date(2024, 7, 3))

    june = await _bulletin(platform, "2024-06")
    paragraphs, cells = _read(june)
    assert paragraphs[0] == "2024年度重点项目督查通报(2024年6月)"
    assert "统计期 2024-06-01 至 2024-06-30,截至 2024-06-30" in paragraphs
    assert "纳入通报项目共 4 个,其中已完成 1 个、进展顺利 1 个、进展缓慢 1 个、无进展 1 个。" in paragraphs
    header = ["已完成", "进展顺利", "进展缓慢", "无进展", "合计"]
    assert ["类别", *header] in cells and ["区县", *header] in cells
    assert ["工业", "0", "1", "1", "0", "2"] in cells and ["基础设施", "0", "0", "0", "1", "1"] in cells
    assert ["民生", "1", "0", "0", "0", "1"] in cells
    assert ["马村区", "0", "1", "1", "0", "2"] in cells and ["高新区", "0", "0", "0", "1", "1"] in cells
    assert ["孟州市", "1", "0", "0", "0", "1"] in cells
    assert cells.count(["合计", "1", "1", "1", "1", "4"]) == 2  # both tables add up to the same projects
    listed = {row[0]: row for row in cells if row[0].endswith("项目") and len(row) == 7}
    assert set(listed) == {"顺利项目", "缓慢项目", "无进展项目", "已竣工项目"}  # 已取消项目 is not counted
    assert listed["缓慢项目"][4:6] == ["黄灯", "500.00"] and "低于序时进度" in listed["缓慢项目"][6]
    assert listed["无进展项目"][2] == "高新区" and listed["无进展项目"][5] == "0.00"
    assert listed["已竣工项目"][6] == "已竣工"
    assert [p for p in paragraphs if p.startswith("(")] == [
        "(一)已完成(1 个)", "(二)进展顺利(1 个)", "(三)进展缓慢(1 个)", "(四)无进展(1 个)"
    ]  # fmt: skip

    # July: 无进展项目 starts and reports; 顺利项目 reports nothing in July.
    await _phase(platform, stalled, "under_construction")
    await _report_progress(platform, stalled, "2024-03-01", "2024-07-02", "100")
    await platform.synced()
    await platform.monitor(date(2024, 7, 3))
    await platform.synced()
    assert _read(await _bulletin(platform, "2024-06")) == (paragraphs, cells)
    _, july = _read(await _bulletin(platform, "2024-07"))
    listed = {row[0]: row for row in july if row[0].endswith("项目") and len(row) == 7}
    assert listed["无进展项目"][4:6] == ["红灯", "100.00"]
    assert ["基础设施", "0", "0", "1", "0", "1"] in july  # now 进展缓慢
    assert ["工业", "0", "0", "0", "2", "2"] in july  # neither reported in July
    assert "统计期 2024-07-01 至 2024-07-31,截至 2024-07-03" in _read(await _bulletin(platform, "2024-07"))[0]

    week = _read(await _bulletin(platform, "2024-W26", programme_id="prog"))[0]
    assert week[0] == "2024 三十工程督查通报(2024年第26周)"
    pdf = PdfReader(io.BytesIO(await _bulletin(platform, "2024-06", format="pdf")))
    text = "".join("".join(page.extract_text().split()) for page in pdf.pages)
    assert "2024年度重点项目督查通报(2024年6月)" in text and "无进展项目" in text

    hq, unit = auth(platform.tokens["hq"]), auth(platform.tokens["unit-a"])
    for period in ("2024-13", "2024-6", "2023-W53", "2024-08"):
        r = await platform.scheduling.get("/v1/reports/supervision-bulletin", params={"period": period}, headers=hq)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("period"), (period, r.text)
    r = await platform.scheduling.get("/v1/reports/supervision-bulletin", params={"period": "2024-06"}, headers=unit)
    assert r.status_code == 403
    r = await platform.scheduling.get(
        "/v1/reports/supervision-bulletin", params={"period": "2024-06", "programme_id": "nope"}, headers=hq
    )
    assert r.status_code == 404
