"""The ledger (XLSX) says what the read-model data says, in the right places."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from services.scheduling.reports import LedgerRow, render_ledger

AS_OF = date(2024, 6, 30)


def _row(pid: str, name: str, cat: str, light: str | None, target: str | None, done: str, **kw: object) -> LedgerRow:
    base = LedgerRow(
        project_id=pid, code=f"2401-410800-04-01-{pid}", name=name, construction_content=f"{name}:新建厂房 3 万平方米",
        construction_type="new", category=cat, unit_name=f"{name}建设单位", sponsor_name="王副市长",
        location="高新区", phase="under_construction", total_investment=Decimal("50000.00"),
        annual_target=Decimal(target) if target else None, completed_this_year=Decimal(done),
        cumulative_investment=Decimal("12345.67"), image_progress_pct=Decimal("35.5"),
        current_milestone="施工许可", current_milestone_date=date(2024, 3, 28), next_milestone="主体封顶",
        next_milestone_date=date(2024, 8, 15), overdue_milestones=0, light=light, light_reasons=[],
        rule_version=2 if light else None, last_report=date(2024, 6, 25),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


ROWS = [
    _row("p1", "智能装备产业园", "industrial", "red", "10000.00", "2500.25",
         light_reasons=["节点'主体封顶'逾期 20 天", "本年投资完成率低于序时进度"], overdue_milestones=1),
    _row("p2", "城南快速路", "infrastructure", "red", "8000.50", "4000",
         light_reasons=["有 1 个已上报(升级)问题未解决"], construction_type="continuing"),
    _row("p3", "滨江大道改造", "infrastructure", "yellow", "5000", "2500", light_reasons=["连续 2 期未按时填报"]),
    _row("p4", "新能源电池项目", "industrial", "green", "3000", "1500", sponsor_name=None, code=None),
    _row("p5", "第一人民医院扩建", "livelihood", "green", "2000", "1000",
         next_milestone=None, next_milestone_date=None),
    _row("p6", "老旧小区改造", "livelihood", None, None, "0", phase="preliminary", last_report=None,
         current_milestone=None, current_milestone_date=None),
]  # fmt: skip
HEADERS = [
    "序号", "项目代码", "项目名称", "建设内容", "新建/续建", "责任单位", "包保市领导", "建设地点", "阶段",
    "总投资(万元)", "年度计划投资(万元)", "本年完成投资(万元)", "累计完成投资(万元)", "投资完成率",
    "形象进度(%)", "当前节点", "当前节点完成日期", "下一节点", "下一节点计划日期", "逾期节点数", "灯色",
    "预警原因", "规则版本", "最近填报",
]  # fmt: skip


def _book() -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(render_ledger("2024年市重点项目", AS_OF, ROWS)))


def _records(ws: Worksheet) -> list[dict[str, object]]:
    assert [c.value for c in ws[2]] == HEADERS
    return [dict(zip(HEADERS, (c.value for c in row), strict=True)) for row in ws.iter_rows(min_row=3)]


def test_ledger_has_a_summary_and_a_sheet_per_category() -> None:
    wb = _book()
    assert wb.sheetnames == ["汇总", "工业", "基础设施", "民生"]
    assert wb["工业"]["A1"].value == "2024年市重点项目工业类项目台账(截至 2024-06-30)"
    assert [r["项目名称"] for r in _records(wb["工业"])] == ["智能装备产业园", "新能源电池项目"]
    assert [r["项目名称"] for r in _records(wb["基础设施"])] == ["城南快速路", "滨江大道改造"]
    assert [r["序号"] for r in _records(wb["民生"])] == [1, 2]


def test_ledger_columns_values_and_types() -> None:
    wb = _book()
    first, battery = _records(wb["工业"])
    assert first["项目代码"] == "2401-410800-04-01-p1" and battery["项目代码"] is None
    assert first["建设内容"] == "智能装备产业园:新建厂房 3 万平方米" and first["新建/续建"] == "新建"
    assert _records(wb["基础设施"])[0]["新建/续建"] == "续建"
    for column, expected in (("总投资(万元)", 50000), ("年度计划投资(万元)", 10000), ("本年完成投资(万元)", 2500.25),
                             ("累计完成投资(万元)", 12345.67), ("形象进度(%)", 35.5)):  # fmt: skip
        assert isinstance(first[column], int | float) and first[column] == expected, column
    assert first["投资完成率"] == pytest.approx(0.250025) and wb["工业"]["N3"].number_format == "0.0%"
    assert wb["工业"]["J3"].number_format == "#,##0.00"
    assert first["当前节点"] == "施工许可" and first["下一节点"] == "主体封顶"
    assert isinstance(first["当前节点完成日期"], datetime) and first["当前节点完成日期"].date() == date(2024, 3, 28)
    assert isinstance(first["下一节点计划日期"], datetime) and first["下一节点计划日期"].date() == date(2024, 8, 15)
    assert first["预警原因"] == "节点'主体封顶'逾期 20 天;本年投资完成率低于序时进度" and first["逾期节点数"] == 1
    assert first["规则版本"] == "v2" and first["阶段"] == "在建"
    hospital, old_town = _records(wb["民生"])
    assert hospital["下一节点"] is None and hospital["下一节点计划日期"] is None
    assert old_town["阶段"] == "前期" and old_town["投资完成率"] is None and old_town["最近填报"] is None
    assert old_town["灯色"] == "未评价" and old_town["规则版本"] is None


def test_ledger_light_fills_and_layout() -> None:
    ws = _book()["基础设施"]
    lights = [(ws.cell(r, 21).value, ws.cell(r, 21).fill) for r in (3, 4)]
    assert [label for label, _ in lights] == ["红灯", "黄灯"]
    assert [f.fgColor.rgb for _, f in lights] == ["FFFF0000", "FFFFFF00"]
    assert all(f.fill_type == "solid" for _, f in lights)
    assert ws.freeze_panes == "D3"
    assert ws.auto_filter.ref == "A2:X4"
    assert ws.column_dimensions["D"].width > ws.column_dimensions["A"].width


def test_ledger_summary_counts_and_investment() -> None:
    ws = _book()["汇总"]
    assert ws["A1"].value == "2024年市重点项目项目台账汇总(截至 2024-06-30)"
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert rows[0] == ["类别", "红灯", "黄灯", "绿灯", "未评价", "合计", "年度计划投资(万元)", "本年完成投资(万元)",
                       "投资完成率"]  # fmt: skip
    assert [row[:6] for row in rows[1:]] == [
        ["工业", 1, 0, 1, 0, 2],
        ["基础设施", 1, 1, 0, 0, 2],
        ["民生", 0, 0, 1, 1, 2],
        ["合计", 2, 1, 2, 1, 6],
    ]
    assert rows[1][6:8] == [13000, 4000.25] and rows[1][8] == pytest.approx(4000.25 / 13000)
    assert rows[4][6:8] == [28000.5, 11500.25] and rows[4][8] == pytest.approx(11500.25 / 28000.5)
