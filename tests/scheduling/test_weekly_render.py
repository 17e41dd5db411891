"""The weekly report's blocks and their two renderings, without I/O: changes of light, empty sections, fonts."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from docx import Document
from docx.oxml.ns import qn
from pypdf import PdfReader

from services.scheduling.bulletin_data import BulletinPeriod
from services.scheduling.report_document import MissingChineseFont, Table, to_docx, to_pdf
from services.scheduling.weekly_data import ReportWeek
from services.scheduling.weekly_report import WeeklyFacts, WeekProject, build_weekly_report, light_change
from shared.domain_errors import Invalid


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (None, "red", "新增红灯"), ("green", "red", "新增红灯"), ("yellow", "red", "新增红灯"),
        ("green", "yellow", "新增黄灯"), (None, "yellow", "新增黄灯"), ("red", "yellow", "红灯转黄灯"),
        ("red", "green", "转为绿灯"), ("yellow", "green", "转为绿灯"),
        (None, "green", None), ("red", "red", None), ("yellow", "yellow", None), ("green", None, None),
    ],
)  # fmt: skip
def test_light_change(before: str | None, after: str | None, change: str | None) -> None:
    assert light_change(before, after) == change


def _facts(**kw: object) -> WeeklyFacts:
    project = WeekProject(
        name="城南快速路", category="infrastructure", unit_name="市交通局", sponsor_name=None, phase="preliminary",
        planned_start=date(2024, 7, 1), annual_target=None, planned_to_date=Decimal(0), done_this_year=Decimal(0),
        light=None, reasons=[], rule_version=None, light_before=None,
    )  # fmt: skip
    base: dict[str, object] = dict(
        programme_name="2024年市重点项目", week="2024-W23", week_start=date(2024, 6, 3), week_end=date(2024, 6, 9),
        as_of=date(2024, 6, 5), scope=None, projects=[project], due=[], overdue=[], missing=[], exemptions=[],
        meeting=None, decisions=[],
    )  # fmt: skip
    return WeeklyFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_a_quiet_week_says_none_and_no_percentage_of_nothing() -> None:
    doc = build_weekly_report(_facts())
    tables = [b for b in doc.blocks if isinstance(b, Table)]
    # 一 counts, 二 rates: every other section (十 存在问题 too) lists nothing and says 无 instead of an empty table.
    assert len(tables) == 2
    assert tables[1].rows[-1] == ["合计", "1", "0", "0", "—", "0.00", "0.00", "0.00", "—", "—"]
    word = Document(io.BytesIO(to_docx(doc)))
    texts = [p.text for p in word.paragraphs]
    assert texts.count("无") == 8 and "截至报告日尚未召开调度会。" in texts
    assert "2024年第23周(2024年6月3日至2024年6月9日)  截至 2024年6月5日" in texts
    assert word.styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia")) == "宋体"


def test_pdf_embeds_a_chinese_font_or_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = PdfReader(io.BytesIO(to_pdf(build_weekly_report(_facts(scope="市交通局")))))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "本报告仅含市交通局负责的项目。" in text and "未评价 1 个" in text
    fonts = [f for page in pdf.pages for f in page["/Resources"]["/Font"].values()]
    assert any("/FontFile2" in f.get_object()["/DescendantFonts"][0]["/FontDescriptor"] for f in fonts)
    monkeypatch.setenv("TIAODU_PDF_FONT", "/nonexistent/font.ttf")
    with pytest.raises(MissingChineseFont):
        to_pdf(build_weekly_report(_facts()))


@pytest.mark.parametrize("text", ["2024-W00", "2024-W54", "2023-W53", "1999-W10", "0001-W01", "2024-23"])
def test_a_week_that_does_not_exist_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        ReportWeek.parse(text)
    assert refused.value.field == "week"


def test_weeks_and_months_of_reports() -> None:
    assert ReportWeek.parse("2020-W53") == ReportWeek("2020-W53", date(2020, 12, 28), date(2021, 1, 3))
    assert ReportWeek.of(date(2024, 12, 30)).name == "2025-W01"
    week = ReportWeek.parse("2024-W23")
    assert week.report_date(date(2024, 6, 5)) == date(2024, 6, 5) and week.report_date(date(2025, 1, 1)) == week.end
    with pytest.raises(Invalid):
        week.report_date(date(2024, 6, 2))
    february = BulletinPeriod.parse("2024-02")
    assert (february.label, february.start, february.end) == ("2024年2月", date(2024, 2, 1), date(2024, 2, 29))
    for text in ("2024-00", "2024-13", "1999-12"):
        with pytest.raises(Invalid):
            BulletinPeriod.parse(text)
