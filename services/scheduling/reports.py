"""Renders the project ledger (台账, XLSX) and holds the labels every report uses (the weekly dispatch report and
the supervision bulletin are built in weekly_report.py and bulletin.py, rendered by report_document.py).

Pure functions: read-model data in, file bytes out. python-docx and openpyxl are imported inside the renderers so
that importing this module for its labels (CATEGORY_NAMES, ...) or dataclasses does not load them.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from docx.styles.style import BaseStyle
    from openpyxl.worksheet.worksheet import Worksheet

CATEGORY_NAMES: dict[str, str] = {"industrial": "工业", "infrastructure": "基础设施", "livelihood": "民生"}
PHASE_NAMES: dict[str, str] = {
    "preliminary": "前期",
    "under_construction": "在建",
    "completed": "竣工",
    "in_operation": "投产",
    "suspended": "暂停",
    "cancelled": "取消",
}
LIGHT_NAMES: dict[str, str] = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}
_UNRATED = "未评价"  # a project the evaluator has not rated yet has light None, which cannot be a str key
_LIGHT_ORDER: tuple[str | None, ...] = ("red", "yellow", "green", None)  # worst first, as the reports read
_LIGHT_FILLS = {"red": "FFFF0000", "yellow": "FFFFFF00", "green": "FF00B050"}  # Excel's standard colours


@dataclass(frozen=True)
class LedgerRow:
    project_id: str
    name: str
    category: str  # industrial | infrastructure | livelihood
    unit_name: str  # 责任单位
    sponsor_name: str | None  # 包保市领导
    location: str
    phase: str  # see PHASE_NAMES
    total_investment: Decimal  # 万元
    annual_target: Decimal | None
    completed_this_year: Decimal
    cumulative_investment: Decimal
    image_progress_pct: Decimal
    image_progress_text: str
    light: str | None  # green | yellow | red | None (not yet evaluated)
    light_reasons: list[str]
    next_milestone: str | None
    next_milestone_date: date | None
    overdue_milestones: int
    last_report: date | None


# -- shared ------------------------------------------------------------------------------------------------------


def light_label(light: str | None) -> str:
    return LIGHT_NAMES.get(light, light) if light else _UNRATED


def _categories(rows: Iterable[LedgerRow]) -> list[str]:
    # Known categories always appear (a zero row is information); unknown ones are kept so the totals still add up.
    extra = sorted({r.category for r in rows} - CATEGORY_NAMES.keys())
    return [*CATEGORY_NAMES, *extra]


def _counts_matrix(rows: Sequence[LedgerRow]) -> list[list[str | int]]:
    """Rows of [类别, 红灯, 黄灯, 绿灯, 未评价, 合计], one per category plus a 合计 row."""
    counts = Counter((r.category, r.light if r.light in LIGHT_NAMES else None) for r in rows)
    out: list[list[str | int]] = []
    for cat in _categories(rows):
        per_light = [counts[(cat, light)] for light in _LIGHT_ORDER]
        out.append([CATEGORY_NAMES.get(cat, cat), *per_light, sum(per_light)])
    totals = [sum(int(line[i]) for line in out) for i in range(1, len(_LIGHT_ORDER) + 2)]
    return [*out, ["合计", *totals]]


_COUNT_HEADERS = ["类别", *(light_label(light) for light in _LIGHT_ORDER), "合计"]


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


# -- fonts of Word documents --------------------------------------------------------------------------------------


def set_chinese_fonts(doc: DocxDocument) -> None:
    # Word picks the East Asian font from w:eastAsia, not from font.name (which only sets ascii/hAnsi); without it
    # Chinese falls back to whatever the viewer likes. Headings are 黑体 as in government documents.
    for name, font in (("Normal", "宋体"), ("Title", "黑体"), ("Heading 1", "黑体")):
        _set_east_asian_font(doc.styles[name], font)


def _set_east_asian_font(style: BaseStyle, font: str) -> None:
    from docx.oxml.ns import qn

    rfonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    rfonts.attrib.pop(qn("w:eastAsiaTheme"), None)  # a theme font would win over the explicit one
    rfonts.set(qn("w:eastAsia"), font)


# -- ledger (XLSX) -----------------------------------------------------------------------------------------------

# (header, column width in characters); a CJK character is about two width units.
_LEDGER_COLUMNS: tuple[tuple[str, int], ...] = (
    ("序号", 6), ("项目名称", 30), ("类别", 10), ("责任单位", 20), ("包保市领导", 12), ("建设地点", 18),
    ("阶段", 8), ("总投资(万元)", 14), ("年度计划投资(万元)", 16), ("本年完成投资(万元)", 16),
    ("累计完成投资(万元)", 16), ("形象进度(%)", 10), ("形象进度说明", 30), ("预警", 8), ("预警原因", 40),
    ("下一节点", 20), ("节点计划日期", 13), ("逾期节点数", 10), ("最近填报", 13),
)  # fmt: skip
# 1-based column numbers, as openpyxl counts
_MONEY_FORMAT, _DATE_FORMAT = "#,##0.00", "yyyy-mm-dd"
_NUMBER_FORMATS = {8: _MONEY_FORMAT, 9: _MONEY_FORMAT, 10: _MONEY_FORMAT, 11: _MONEY_FORMAT, 12: "0.0"}
_NUMBER_FORMATS |= {17: _DATE_FORMAT, 19: _DATE_FORMAT}
_WRAP_COLUMNS = {2, 13, 15}
_LIGHT_COLUMN = 14
_TITLE_ROW, _HEADER_ROW = 1, 2


def render_ledger(programme_name: str, as_of: date, rows: list[LedgerRow]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has one sheet
    ws.title = "项目台账"
    _write_ledger_sheet(ws, f"{programme_name}项目台账(截至 {as_of.isoformat()})", rows)
    _write_summary_sheet(wb.create_sheet("汇总"), rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ledger_values(index: int, r: LedgerRow) -> list[object]:
    # Money stays Decimal: openpyxl writes it as a number, exactly as stored, with no float rounding on the way.
    return [
        index, r.name, CATEGORY_NAMES.get(r.category, r.category), r.unit_name, r.sponsor_name, r.location,
        PHASE_NAMES.get(r.phase, r.phase), r.total_investment, r.annual_target, r.completed_this_year,
        r.cumulative_investment, r.image_progress_pct, r.image_progress_text, light_label(r.light),
        ";".join(r.light_reasons), r.next_milestone, r.next_milestone_date, r.overdue_milestones, r.last_report,
    ]  # fmt: skip


def _write_ledger_sheet(ws: Worksheet, title: str, rows: Sequence[LedgerRow]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    last_col = get_column_letter(len(_LEDGER_COLUMNS))
    ws.cell(_TITLE_ROW, 1, title).font = Font(bold=True, size=14)
    ws.merge_cells(f"A{_TITLE_ROW}:{last_col}{_TITLE_ROW}")
    _write_header(ws, _HEADER_ROW, [h for h, _ in _LEDGER_COLUMNS])
    for col, (_, width) in enumerate(_LEDGER_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    for i, row in enumerate(rows, start=1):
        excel_row = _HEADER_ROW + i
        for col, value in enumerate(_ledger_values(i, row), start=1):
            cell = ws.cell(excel_row, col, value)
            if col in _NUMBER_FORMATS:
                cell.number_format = _NUMBER_FORMATS[col]
            elif col in _WRAP_COLUMNS:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        if row.light in _LIGHT_FILLS:
            colour = _LIGHT_FILLS[row.light]
            ws.cell(excel_row, _LIGHT_COLUMN).fill = PatternFill("solid", start_color=colour, end_color=colour)
    ws.freeze_panes = ws.cell(_HEADER_ROW + 1, 1)  # title and header stay visible while scrolling
    ws.auto_filter.ref = f"A{_HEADER_ROW}:{last_col}{_HEADER_ROW + max(len(rows), 1)}"
    ws.page_setup.orientation = "landscape"  # 19 columns: printed ledgers go landscape, fitted to the page width
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _write_header(ws: Worksheet, row: int, headers: Sequence[str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    for col, text in enumerate(headers, start=1):
        cell = ws.cell(row, col, text)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color="FFD9D9D9", end_color="FFD9D9D9")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _write_summary_sheet(ws: Worksheet, rows: Sequence[LedgerRow]) -> None:
    _write_header(ws, 1, _COUNT_HEADERS)
    for line in _counts_matrix(rows):
        ws.append(line)
    ws.column_dimensions["A"].width = 12
