"""A report as a list of blocks (headings, paragraphs, tables), rendered to DOCX (python-docx) or PDF (fpdf2).

One content, two formats: the weekly dispatch report and the supervision bulletin build the blocks once, so the
Word and the PDF file of one report cannot say different things. The renderers import their libraries inside, so
that building a report does not load them.

PDF needs a font with Chinese glyphs embedded in the file (a PDF viewer on an intranet machine may have none):
`TIAODU_PDF_FONT` names a TrueType file (or collection: its first font is used), else the Debian package
fonts-wqy-microhei's is used (.ci/run installs it): one font with both Chinese and Latin glyphs, as digits and dates
fill these reports (a CJK-only fallback font prints them as nothing). Without one, rendering a PDF raises
`MissingChineseFont` rather than printing empty boxes.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from services.scheduling.reports import set_chinese_fonts

NONE_TEXT = "无"
FONT_CANDIDATES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),)


class MissingChineseFont(RuntimeError):
    """No TrueType font with Chinese glyphs on this machine (set TIAODU_PDF_FONT or install fonts-wqy-microhei)."""


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 0: the title, 1: a numbered section, 2: a sub-section


@dataclass(frozen=True)
class Paragraph:
    text: str
    centred: bool = False


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


Block = Heading | Paragraph | Table


@dataclass
class ReportDocument:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def section(self, heading: str, headers: list[str], rows: list[list[str]], *, level: int = 1) -> None:
        """A heading and its table, or 无 when there is nothing to list (an empty table reads like an error)."""
        self.blocks.append(Heading(heading, level))
        self.blocks.append(Table(headers, rows) if rows else Paragraph(NONE_TEXT))


# -- DOCX --------------------------------------------------------------------------------------------------------


def to_docx(report: ReportDocument) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = Document()
    set_chinese_fonts(doc)
    doc.core_properties.title = report.title
    for block in report.blocks:
        if isinstance(block, Heading):
            heading = doc.add_heading(block.text, level=block.level)
            if block.level == 0:
                heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif isinstance(block, Paragraph):
            paragraph = doc.add_paragraph(block.text)
            if block.centred:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        else:
            table = doc.add_table(rows=1, cols=len(block.headers))
            table.style = doc.styles["Table Grid"]  # the default style has no borders, which reads badly on paper
            for cell, text in zip(table.rows[0].cells, block.headers, strict=True):
                cell.paragraphs[0].add_run(text).bold = True
            for values in block.rows:
                for cell, text in zip(table.add_row().cells, values, strict=True):
                    cell.text = text
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# -- PDF ---------------------------------------------------------------------------------------------------------

_FONT = "cjk"
_SIZES = {0: 16, 1: 13, 2: 11}
_BODY = 9


def chinese_font() -> Path:
    configured = os.environ.get("TIAODU_PDF_FONT")
    candidates = (Path(configured),) if configured else FONT_CANDIDATES
    for path in candidates:
        if path.is_file():
            return path
    raise MissingChineseFont(f"找不到中文字体文件:{', '.join(str(p) for p in candidates)}")


def to_pdf(report: ReportDocument) -> bytes:
    from fpdf import FPDF, FontFace
    from fpdf.enums import Align, TextEmphasis, WrapMode, XPos, YPos

    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.add_font(_FONT, "", str(chinese_font()))
    pdf.set_title(report.title)
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    for block in report.blocks:
        if isinstance(block, Heading):
            pdf.set_font(_FONT, size=_SIZES.get(block.level, _BODY))
            align = Align.C if block.level == 0 else Align.L
            pdf.ln(2)
            pdf.multi_cell(0, 8, block.text, align=align, wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        elif isinstance(block, Paragraph):
            pdf.set_font(_FONT, size=_BODY + 1)
            align = Align.C if block.centred else Align.L
            pdf.multi_cell(0, 6, block.text, align=align, wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            pdf.set_font(_FONT, size=_BODY)
            # Chinese has no spaces to break at: wrap by character inside a cell. The font has no bold face, so the
            # header row is shaded rather than bold.
            header = FontFace(emphasis=TextEmphasis.NONE, fill_color=(217, 217, 217))
            widths = _column_widths(block)
            with pdf.table(wrapmode=WrapMode.CHAR, line_height=5, headings_style=header, col_widths=widths) as table:
                for values in [block.headers, *block.rows]:
                    row = table.row()
                    for text in values:
                        row.cell(text)
            pdf.ln(2)
    return bytes(pdf.output())


def _column_widths(table: Table) -> tuple[float, ...]:
    """Relative widths by the longest text of each column, capped: reasons get room, a count does not take a third
    of the page (fpdf2's default is equal columns)."""
    longest = [max(len(text) for text in column) for column in zip(table.headers, *table.rows, strict=True)]
    return tuple(float(min(n, 40) + 2) for n in longest)
