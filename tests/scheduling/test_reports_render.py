"""The ledger (XLSX) says what the read-model data says, in the right places."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import openpyxl

from services.scheduling.reports import LedgerRow, render_ledger

AS_OF = date(2024, 6, 30)


def _row(pid: str, name: str, cat: str, light: str | None, target: str | None, done: str, **kw: object) -> LedgerRow:
    base = LedgerRow(
        project_id=pid, name=name, category=cat, unit_name=f"{name}建设单位", sponsor_name="王副市长",
        location="高新区", phase="under_construction", total_investment=Decimal("50000.00"),
        annual_target=Decimal(target) if target else None, completed_this_year=Decimal(done),
        cumulative_investment=Decimal("12345.67"), image_progress_pct=Decimal("35.5"), image_progress_text="主体施工",
        light=light, light_reasons=[], next_milestone="主体封顶", next_milestone_date=date(2024, 8, 15),
        overdue_milestones=0, last_report=date(2024, 6, 25),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


ROWS = [
    _row("p1", "智能装备产业园", "industrial", "red", "10000.00", "2500.25",
         light_reasons=["节点'主体封顶'逾期 20 天", "本年投资完成率低于序时进度"], overdue_milestones=1),
    _row("p2", "城南快速路", "infrastructure", "red", "8000.50", "4000",
         light_reasons=["有 1 个已上报(升级)问题未解决"]),
    _row("p3", "滨江大道改造", "infrastructure", "yellow", "5000", "2500", light_reasons=["连续 2 期未按时填报"]),
    _row("p4", "新能源电池项目", "industrial", "green", "3000", "1500", sponsor_name=None),
    _row("p5", "第一人民医院扩建", "livelihood", "green", "2000", "1000",
         next_milestone=None, next_milestone_date=None),
    _row("p6", "老旧小区改造", "livelihood", None, None, "0", phase="preliminary", last_report=None),
]  # fmt: skip


def test_ledger_sheet_rows_types_and_fills() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(render_ledger("2024年市重点项目", AS_OF, ROWS)))
    assert wb.sheetnames == ["项目台账", "汇总"]
    ws = wb["项目台账"]
    assert ws["A1"].value == "2024年市重点项目项目台账(截至 2024-06-30)"
    assert [c.value for c in ws[2]] == [
        "序号", "项目名称", "类别", "责任单位", "包保市领导", "建设地点", "阶段", "总投资(万元)", "年度计划投资(万元)",
        "本年完成投资(万元)", "累计完成投资(万元)", "形象进度(%)", "形象进度说明", "预警", "预警原因", "下一节点",
        "节点计划日期", "逾期节点数", "最近填报",
    ]  # fmt: skip
    assert ws.max_row == 2 + len(ROWS)
    assert [ws.cell(r, 2).value for r in range(3, 9)] == [r.name for r in ROWS]
    assert [ws.cell(r, 1).value for r in range(3, 9)] == [1, 2, 3, 4, 5, 6]
    assert [ws.cell(r, 3).value for r in (3, 4, 7)] == ["工业", "基础设施", "民生"]
    assert ws.cell(8, 7).value == "前期" and ws.cell(3, 7).value == "在建"

    first = [c.value for c in ws[3]]
    for col, expected in ((8, 50000), (9, 10000), (10, 2500.25), (11, 12345.67), (12, 35.5)):
        assert isinstance(first[col - 1], int | float) and first[col - 1] == expected, col
    assert ws.cell(4, 9).value == 8000.5 and ws.cell(8, 9).value is None
    assert ws.cell(3, 8).number_format == "#,##0.00"
    assert first[14] == "节点'主体封顶'逾期 20 天;本年投资完成率低于序时进度" and first[17] == 1
    assert isinstance(first[16], datetime) and first[16].date() == date(2024, 8, 15)
    assert isinstance(first[18], datetime) and first[18].date() == date(2024, 6, 25)
    assert ws.cell(8, 19).value is None and ws.cell(7, 17).value is None

    lights = [(ws.cell(r, 14).value, ws.cell(r, 14).fill) for r in range(3, 9)]
    assert [label for label, _ in lights] == ["红灯", "红灯", "黄灯", "绿灯", "绿灯", "未评价"]
    assert [f.fgColor.rgb for _, f in lights[:5]] == ["FFFF0000", "FFFF0000", "FFFFFF00", "FF00B050", "FF00B050"]
    assert all(f.fill_type == "solid" for _, f in lights[:5]) and lights[5][1].fill_type is None
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == "A2:S8"
    assert ws.column_dimensions["B"].width > ws.column_dimensions["A"].width


def test_ledger_summary_counts() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(render_ledger("2024年市重点项目", AS_OF, ROWS)))
    assert [[c.value for c in row] for row in wb["汇总"].iter_rows()] == [
        ["类别", "红灯", "黄灯", "绿灯", "未评价", "合计"],
        ["工业", 1, 0, 1, 0, 2],
        ["基础设施", 1, 1, 0, 0, 2],
        ["民生", 0, 0, 1, 1, 2],
        ["合计", 2, 1, 2, 1, 6],
    ]
