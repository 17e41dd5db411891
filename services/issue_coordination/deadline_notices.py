"""Deadline near (临期提醒), free of I/O: whether an issue's or a 督办 order's deadline is exactly 3 or 1 working days
away at a moment, on the calendar version its deadline recorded, and the one event id of each notice.

Working days away are counted as deadlines count them: the working days after the moment's China day up to and
including the deadline's day. A deadline on Thursday 18:00 is 3 working days away on the Monday before and 1 on the
Wednesday; one on Monday is 1 working day away on the Friday before and still on the weekend after it (the same
notice, recorded once). A holiday is not counted and a make-up working day (调休) is, so the notice before a holiday
week comes before it. An issue waiting for the raiser has no deadline while the clock stands, and a pause moves the
deadline on: the notices follow the deadline as it is then (a new deadline, a new notice).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from services.issue_coordination.deadlines import calendar_of, china_day, effective_deadline
from services.issue_coordination.domain import OPEN, IssueState
from services.issue_coordination.domain_common import notice_key
from services.issue_coordination.supervision import OPEN_ORDER, OrderState
from services.issue_coordination.work_calendar import Pause, WorkCalendar
from shared.catalogue.issue_coordination import IssueDeadlineNeared, IssueLevel, SupervisionOrderDeadlineNeared

# Working days before a deadline at which its handlers are told (issue 10: "deadline near (3 and 1 working days)").
THRESHOLDS = (3, 1)
NOTICE_NAMESPACE = uuid.UUID("5b8e2d74-1c3f-4a69-b0e7-93d6f1a2c485")


def notice_event_id(aggregate_id: str, deadline: datetime, working_days_left: int) -> uuid.UUID:
    """The one id of the notice that `aggregate_id`'s `deadline` is `working_days_left` working days away."""
    return uuid.uuid5(NOTICE_NAMESPACE, f"{aggregate_id}|{notice_key(deadline, working_days_left)}")


def running_since(issue: IssueState) -> datetime | None:
    """When the running deadline started; one given before deadlines recorded it runs from the assignment (never
    after the deadline itself)."""
    since = issue.deadline_since or issue.assigned_at
    if since is None or issue.deadline is None:
        return since
    return min(since, issue.deadline)


def working_days_left(calendar: WorkCalendar, today: date, deadline: datetime) -> int:
    """The working days after `today` up to and including the deadline's day (0 on the deadline's day or after)."""
    last = china_day(deadline)
    count, day = 0, today + timedelta(days=1)
    while day <= last:
        count += calendar.is_working_day(day)
        day += timedelta(days=1)
    return count


def _near(calendar: WorkCalendar, at: datetime, deadline: datetime, given: Sequence[str]) -> int | None:
    if deadline <= at:
        return None
    left = working_days_left(calendar, china_day(at), deadline)
    return left if left in THRESHOLDS and notice_key(deadline, left) not in given else None


def due_issue_notice(issue: IssueState, at: datetime, calendars: Sequence[WorkCalendar]) -> IssueDeadlineNeared | None:
    """The notice due for an open issue at `at`, unless it was given; None while it waits for the raiser."""
    since = running_since(issue)
    if issue.status not in OPEN or issue.deadline is None or since is None:
        return None
    calendar = calendar_of(calendars, issue.calendar_version, since)
    pauses = tuple(Pause(w.requested_at, w.answered_at) for w in issue.information_requests)
    deadline = effective_deadline(issue.deadline, since=since, pauses=pauses, calendar=calendar)
    if deadline is None or (left := _near(calendar, at, deadline, issue.deadline_notices)) is None:
        return None
    return IssueDeadlineNeared(deadline=deadline, working_days_left=left, calendar_version=calendar.version,
                               level=issue.level or IssueLevel.LEAD_UNIT)  # fmt: skip


def due_order_notice(
    order: OrderState, at: datetime, calendars: Sequence[WorkCalendar]
) -> SupervisionOrderDeadlineNeared | None:
    """The notice due for an open 督办 order at `at`, unless it was given."""
    if order.status not in OPEN_ORDER:
        return None
    calendar = calendar_of(calendars, order.calendar_version, order.issued_at)
    if (left := _near(calendar, at, order.deadline, order.deadline_notices)) is None:
        return None
    return SupervisionOrderDeadlineNeared(deadline=order.deadline, working_days_left=left,
                                          calendar_version=calendar.version)  # fmt: skip
