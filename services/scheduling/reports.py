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
CONSTRUCTION_TYPE_NAMES: dict[str, str] = {"new": "新建", "continuing": "续建"}
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
    code: str | None  # 项目代码 (national investment project code)
    name: str
    construction_content: str  # 建设内容
    construction_type: str  # new 新建 | continuing 续建
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
    current_milestone: str | None  # 当前节点: the last one done by the ledger's date
    current_milestone_date: date | None  # the day it was done
    next_milestone: str | None  # 下一节点: the first one not done (overdue or not)
    next_milestone_date: date | None  # its planned date
    overdue_milestones: int
    light: str | None  # green | yellow | red | None (not yet evaluated), as shown on the ledger's date
    light_reasons: list[str]
    rule_version: int | None  # of that light
    last_report: date | None

    @property
    def completion_rate(self) -> Decimal | None:
        """投资完成率: this year's investment over the annual plan (None without a plan to measure against)."""
        if not self.annual_target:
            return None
        return self.completed_this_year / self.annual_target


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
    for name, font in (("Normal", "宋体"), ("Title", "黑体"), ("Heading 1", "黑体"), ("Heading 2", "黑体")):
        _set_east_asian_font(doc.styles[name], font)


def _set_east_asian_font(style: BaseStyle, font: str) -> None:
    from docx.oxml.ns import qn

    rfonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    rfonts.attrib.pop(qn("w:eastAsiaTheme"), None)  # a theme font would win over the explicit one
    rfonts.set(qn("w:eastAsia"), font)


# -- ledger (XLSX) -----------------------------------------------------------------------------------------------

# (header, column width in characters, number format or None); a CJK character is about two width units.
_MONEY, _DATE, _PCT = "#,##0.00", "yyyy-mm-dd", "0.0%"
_LEDGER_COLUMNS: tuple[tuple[str, int, str | None], ...] = (
    ("序号", 6, None), ("项目代码", 26, None), ("项目名称", 28, None), ("建设内容", 36, None),
    ("新建/续建", 9, None), ("责任单位", 18, None), ("包保市领导", 12, None), ("建设地点", 14, None),
    ("阶段", 7, None), ("总投资(万元)", 14, _MONEY), ("年度计划投资(万元)", 16, _MONEY),
    ("本年完成投资(万元)", 16, _MONEY), ("累计完成投资(万元)", 16, _MONEY), ("投资完成率", 10, _PCT),
    ("形象进度(%)", 10, "0.0"), ("当前节点", 18, None), ("当前节点完成日期", 13, _DATE), ("下一节点", 18, None),
    ("下一节点计划日期", 13, _DATE), ("逾期节点数", 9, None), ("灯色", 8, None), ("预警原因", 48, None),
    ("规则版本", 8, None), ("最近填报", 13, _DATE),
)  # fmt: skip
_WRAP_COLUMNS = {3, 4, 22}  # 1-based column numbers, as openpyxl counts
_LIGHT_COLUMN = 21
_TITLE_ROW, _HEADER_ROW = 1, 2
SUMMARY_SHEET = "汇总"


def render_ledger(programme_name: str, as_of: date, rows: list[LedgerRow]) -> bytes:
    """A summary sheet, then one sheet per category (each category always has its sheet: an empty one is news)."""
    from openpyxl import Workbook

    wb = Workbook()
    summary = wb.active
    assert summary is not None  # a new workbook always has one sheet
    summary.title = SUMMARY_SHEET
    _write_summary_sheet(summary, f"{programme_name}项目台账汇总(截至 {as_of.isoformat()})", rows)
    for cat in _categories(rows):
        label = CATEGORY_NAMES.get(cat, cat)
        title = f"{programme_name}{label}类项目台账(截至 {as_of.isoformat()})"
        _write_ledger_sheet(wb.create_sheet(label[:31]), title, [r for r in rows if r.category == cat])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ledger_values(index: int, r: LedgerRow) -> list[object]:
    # Money stays Decimal: openpyxl writes it as a number, exactly as stored, with no float rounding on the way.
    return [
        index, r.code, r.name, r.construction_content,
        CONSTRUCTION_TYPE_NAMES.get(r.construction_type, r.construction_type), r.unit_name, r.sponsor_name,
        r.location, PHASE_NAMES.get(r.phase, r.phase), r.total_investment, r.annual_target, r.completed_this_year,
        r.cumulative_investment, r.completion_rate, r.image_progress_pct, r.current_milestone,
        r.current_milestone_date, r.next_milestone, r.next_milestone_date, r.overdue_milestones, light_label(r.light),
        ";".join(r.light_reasons), f"v{r.rule_version}" if r.rule_version else None, r.last_report,
    ]  # fmt: skip


def _write_ledger_sheet(ws: Worksheet, title: str, rows: Sequence[LedgerRow]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    last_col = get_column_letter(len(_LEDGER_COLUMNS))
    ws.cell(_TITLE_ROW, 1, title).font = Font(bold=True, size=14)
    ws.merge_cells(f"A{_TITLE_ROW}:{last_col}{_TITLE_ROW}")
    _write_header(ws, _HEADER_ROW, [h for h, _, _ in _LEDGER_COLUMNS])
    for col, (_, width, _) in enumerate(_LEDGER_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    for i, row in enumerate(rows, start=1):
        excel_row = _HEADER_ROW + i
        for col, value in enumerate(_ledger_values(i, row), start=1):
            cell = ws.cell(excel_row, col, value)
            if (number_format := _LEDGER_COLUMNS[col - 1][2]) is not None:
                cell.number_format = number_format
            elif col in _WRAP_COLUMNS:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        if row.light in _LIGHT_FILLS:
            colour = _LIGHT_FILLS[row.light]
            ws.cell(excel_row, _LIGHT_COLUMN).fill = PatternFill("solid", start_color=colour, end_color=colour)
    ws.freeze_panes = ws.cell(_HEADER_ROW + 1, 4)  # title, header, 序号/代码/名称 stay visible while scrolling
    ws.auto_filter.ref = f"A{_HEADER_ROW}:{last_col}{_HEADER_ROW + max(len(rows), 1)}"
    ws.page_setup.orientation = "landscape"  # a wide ledger prints landscape, fitted to the page width
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _write_header(ws: Worksheet, row: int, headers: Sequence[str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    for col, text in enumerate(headers, start=1):
        cell = ws.cell(row, col, text)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color="FFD9D9D9", end_color="FFD9D9D9")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


_SUMMARY_HEADERS = [*_COUNT_HEADERS, "年度计划投资(万元)", "本年完成投资(万元)", "投资完成率"]


def _write_summary_sheet(ws: Worksheet, title: str, rows: Sequence[LedgerRow]) -> None:
    """Per category: projects by light (as shown on the ledger's date) and investment against the annual plan."""
    from openpyxl.styles import Font

    ws.cell(_TITLE_ROW, 1, title).font = Font(bold=True, size=14)
    _write_header(ws, _HEADER_ROW, _SUMMARY_HEADERS)
    groups = [[r for r in rows if r.category == cat] for cat in _categories(rows)] + [list(rows)]
    for line, group in zip(_counts_matrix(rows), groups, strict=True):
        target = sum((r.annual_target or Decimal(0) for r in group), Decimal(0))
        done = sum((r.completed_this_year for r in group), Decimal(0))
        ws.append([*line, target, done, done / target if target else None])
        for col, number_format in ((len(line) + 1, _MONEY), (len(line) + 2, _MONEY), (len(line) + 3, _PCT)):
            ws.cell(ws.max_row, col).number_format = number_format
    ws.column_dimensions["A"].width = 12
    for letter in ("G", "H", "I"):
        ws.column_dimensions[letter].width = 18
