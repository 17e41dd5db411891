"""The covered days of a project's reports: merged spans, the same whatever order and shape the periods come in."""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import pairwise

from services.intake.periods import Span, covered


def _days(spans: list[Span]) -> set[date]:
    return {s.start + timedelta(days=d) for s in spans for d in range((s.end - s.start).days + 1)}


def test_spans_merge_to_the_days_covered_sorted_and_apart() -> None:
    """Weekly reports in order (the fast path), gaps, overlaps and late periods (the general path): the spans cover
    exactly the days reported, sorted, none touching another."""
    rng = random.Random(24)
    for _ in range(300):
        spans: list[Span] = []
        days: set[date] = set()
        cursor = date(2024, 1, 1)
        for _ in range(rng.randrange(1, 30)):
            if rng.random() < 0.7:
                start = cursor + timedelta(days=rng.choice([0, 0, 0, 1, 3]))  # next week, or after a gap
            else:
                start = date(2024, 1, 1) + timedelta(days=rng.randrange(200))  # an earlier or overlapping period
            end = start + timedelta(days=rng.randrange(14))
            cursor = max(cursor, end + timedelta(days=1))
            spans = covered(spans, start, end)
            days |= {start + timedelta(days=d) for d in range((end - start).days + 1)}
            assert _days(spans) == days
            assert all(a.end + timedelta(days=1) < b.start for a, b in pairwise(spans))
    assert covered([Span(start=date(2024, 1, 1), end=date(2024, 1, 7))], date(2024, 1, 8), date(2024, 1, 14)) == [
        Span(start=date(2024, 1, 1), end=date(2024, 1, 14))
    ]
