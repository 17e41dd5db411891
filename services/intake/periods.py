"""The days a project's progress reports cover, kept as merged spans so that the overlap check is a look at a few
spans of the aggregate's state in memory, however many reports a project has (weekly reports merge into one span).
Which report a refused period overlaps is looked up in the ledger only when a report is refused."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel

ONE_DAY = timedelta(days=1)


class Span(BaseModel):
    start: date
    end: date


def overlaps(spans: list[Span], start: date, end: date) -> Span | None:
    """The first covered span sharing a day with [start, end], or None."""
    return next((s for s in spans if s.start <= end and start <= s.end), None)


def covered(spans: list[Span], start: date, end: date) -> list[Span]:
    """`spans` with [start, end] added; spans that overlap or touch (one ends the day before the other starts) merge.
    Overlaps only come from reports written before the check existed; they merge the same way."""
    if spans and spans[-1].end < start <= spans[-1].end + ONE_DAY:
        # The next week's report (nearly every report): the last span grows. Spans are kept sorted by start.
        last = spans[-1]
        return [*spans[:-1], Span(start=last.start, end=max(last.end, end))]
    merged: list[Span] = []
    for s in sorted([*spans, Span(start=start, end=end)], key=lambda s: s.start):
        if merged and s.start <= merged[-1].end + ONE_DAY:
            if s.end > merged[-1].end:
                merged[-1] = Span(start=merged[-1].start, end=s.end)
        else:
            merged.append(s)
    return merged
