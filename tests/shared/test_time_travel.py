"""`as_of` parsing (shared.time_travel): RFC 3339 with an offset, a date alone as the end of that day in China."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.time_travel import end_of_china_day, parse_as_of


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2024-05-10T12:00:00+08:00", datetime(2024, 5, 10, 4, tzinfo=UTC)),
        ("2024-05-10T04:00:00Z", datetime(2024, 5, 10, 4, tzinfo=UTC)),
        ("2024-05-10t04:00:00z", datetime(2024, 5, 10, 4, tzinfo=UTC)),
        ("2024-05-10T04:00:00.250+00:00", datetime(2024, 5, 10, 4, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-10", datetime(2024, 5, 10, 15, 59, 59, 999999, tzinfo=UTC)),  # 23:59:59.999999 in Beijing
        (" 2024-05-10 ", datetime(2024, 5, 10, 15, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_accepted_values(value: str, moment: datetime) -> None:
    parsed = parse_as_of(value)
    assert parsed == moment and parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    ["", "yesterday", "2024-13-01", "2024-05-10T12:00:00", "2024-05-10 12:00", "10/05/2024", "2024-05-10T25:00+08:00",
     "9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00", "1715313600",
     "2024-05-10T12:00:00.000000000000000000000+08:00"],
)  # fmt: skip
def test_refused_values_say_why(value: str) -> None:
    with pytest.raises(ValueError, match=r"[\u4e00-\u9fff]"):
        parse_as_of(value)


def test_a_date_means_everything_recorded_that_day_in_china() -> None:
    assert parse_as_of("2024-05-10") == end_of_china_day(datetime(2024, 5, 10).date())
