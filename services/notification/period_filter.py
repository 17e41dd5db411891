"""A period named in a query (`2024-03-01`, `2024-03`, `2024-W10`) as the moments it spans in China time."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from shared.clock import CHINA
from shared.domain_errors import invalid

DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
PATTERN = r"^[0-9]{4}-(W[0-9]{2}|[0-9]{2}(-[0-9]{2})?)$"


def period_span(text: str, field: str = "period") -> tuple[datetime, datetime]:
    """[start, end) of the period; 422 naming `field` when it is not one."""
    try:
        if m := DAY.match(text):
            first = date(int(m[1]), int(m[2]), int(m[3]))
            last = first + timedelta(days=1)
        elif m := MONTH.match(text):
            first = date(int(m[1]), int(m[2]), 1)
            last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        elif m := WEEK.match(text):
            first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            last = first + timedelta(days=7)
        else:
            raise ValueError(text)
    except ValueError:
        raise invalid(field, "须为日期 2024-03-01、月份 2024-03 或 ISO 周 2024-W10") from None
    return datetime.combine(first, time(), CHINA), datetime.combine(last, time(), CHINA)
