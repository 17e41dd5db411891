"""Calendar days as the API and the log write them: `YYYY-MM-DD` strings, nothing else.

pydantic's lax `date` also reads a number as a Unix timestamp (`0` is 1970-01-01) and a datetime string at midnight
as its day, while the documents say "string, format date": a client's mistake would be taken as some day. `IsoDate`
accepts a `date` (from code) or an ISO 8601 calendar-date string, and refuses the rest naming the expected form; its
JSON Schema is still `{"type": "string", "format": "date"}`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _calendar_day(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value  # pydantic checks it is a real day (no 2024-02-30)
    raise ValueError("应为日期,写作 YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_calendar_day)]
