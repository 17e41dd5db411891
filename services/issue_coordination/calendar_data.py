"""The official holiday arrangements (国务院办公厅关于部分节假日安排的通知) the seeded calendar versions carry.

Each year: the days off (放假调休, weekends inside a holiday block included) and the make-up working days
(调休上班). Sources: 国办发明电〔2023〕7号 (2024), 〔2024〕12号 (2025), the notice of 2025-11-04 (2026).
"""

from __future__ import annotations

from datetime import date, timedelta

from shared.catalogue.issue_rules import CalendarDays

Span = tuple[str, str]  # first and last day off, inclusive

OFFICIAL: dict[int, tuple[list[Span], list[str]]] = {
    2024: (
        [
            ("2024-01-01", "2024-01-01"),  # 元旦
            ("2024-02-10", "2024-02-17"),  # 春节
            ("2024-04-04", "2024-04-06"),  # 清明节
            ("2024-05-01", "2024-05-05"),  # 劳动节
            ("2024-06-10", "2024-06-10"),  # 端午节
            ("2024-09-15", "2024-09-17"),  # 中秋节
            ("2024-10-01", "2024-10-07"),  # 国庆节
        ],
        [
            "2024-02-04",
            "2024-02-18",
            "2024-04-07",
            "2024-04-28",
            "2024-05-11",
            "2024-09-14",
            "2024-09-29",
            "2024-10-12",
        ],
    ),
    2025: (
        [
            ("2025-01-01", "2025-01-01"),
            ("2025-01-28", "2025-02-04"),
            ("2025-04-04", "2025-04-06"),
            ("2025-05-01", "2025-05-05"),
            ("2025-05-31", "2025-06-02"),
            ("2025-10-01", "2025-10-08"),  # 国庆节、中秋节
        ],
        ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    ),
    2026: (
        [
            ("2026-01-01", "2026-01-03"),
            ("2026-02-15", "2026-02-23"),
            ("2026-04-04", "2026-04-06"),
            ("2026-05-01", "2026-05-05"),
            ("2026-06-19", "2026-06-21"),
            ("2026-09-25", "2026-09-27"),
            ("2026-10-01", "2026-10-07"),
        ],
        ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
    ),
}


def _days(span: Span) -> list[date]:
    first, last = date.fromisoformat(span[0]), date.fromisoformat(span[1])
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def official_days(*years: int) -> CalendarDays:
    """The calendar of the official arrangements of `years` (weekends off, 18:00 end of a working day)."""
    holidays = [day for year in years for span in OFFICIAL[year][0] for day in _days(span)]
    make_up = [date.fromisoformat(day) for year in years for day in OFFICIAL[year][1]]
    return CalendarDays(holidays=holidays, make_up_working_days=make_up)


# The versions a new deployment starts with: the 2024 arrangements (the demo year), then 2024-2026.
SEEDED_VERSIONS: list[tuple[date, CalendarDays, str]] = [
    (date(2000, 1, 1), official_days(2024), "2024 年法定节假日及调休安排"),
    (date(2025, 1, 1), official_days(2024, 2025, 2026), "2024-2026 年法定节假日及调休安排"),
]
