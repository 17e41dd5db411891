"""Issue figures on a scripted history with known answers (按时办结率, working days to resolve, reopen rate,
satisfaction, open and overdue by category and level), the same from a read model rebuilt from the log, and who may
read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from services.issue_coordination.api_figures import IssueFiguresView, figures_in
from services.issue_coordination.bootstrap import read_model
from services.issue_coordination.figures import Period
from shared.rebuild import rebuild
from shared.settings import Settings
from tests.issue_coordination.conftest import Platform
from tests.issue_coordination.quiet import quiet_platform_of

JAN = {"period": "2024-01", "unit_id": "unit-b"}


@pytest.fixture
async def quiet_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as platform:
        yield platform


async def assigned(p: Platform, project_id: str, unit: str, deadline: str, category: str = "land") -> str:
    issue_id = await p.raise_issue(project_id, category=category)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": unit, "deadline": deadline})
    return issue_id


async def scripted_history(p: Platform) -> None:
    """Raised on Tuesday 2024-01-02 08:00 (01-01 is 元旦); working days end at 18:00."""
    project_id = await p.project()
    p.clock.set_day(date(2024, 1, 2), hour=8)
    friday = "2024-01-05T18:00:00+08:00"
    on_time = await assigned(p, project_id, "unit-b", friday)
    reopened = await assigned(p, project_id, "unit-b", friday)
    escalated = await assigned(p, project_id, "unit-b", "2024-01-20T18:00:00+08:00")  # open, in time, escalated
    await assigned(p, project_id, "unit-b", friday, category="funding")  # open, overdue
    await assigned(p, project_id, "unit-c", "2024-01-03T18:00:00+08:00")  # another unit's, overdue
    for issue_id in (on_time, reopened):
        await p.act(issue_id, "acceptance", "unit-b")
    await p.act(escalated, "escalations", "hq", {"reason": "用地问题久拖未决"})

    p.clock.set_day(date(2024, 1, 4), hour=10)  # one working day (01-03) ended since it was raised
    await p.act(on_time, "resolution", "unit-b", {"answer": "已调剂用地指标"})
    await p.act(on_time, "confirmation", "unit-a", {"rating": 5})
    await p.act(reopened, "resolution", "unit-b", {"answer": "已协调"})
    await p.act(reopened, "rejection", "unit-a", {"reason": "指标仍未下达"})

    p.clock.set_day(date(2024, 1, 8), hour=10)  # Monday: 01-03, 01-04, 01-05 ended; late
    await p.act(reopened, "resolution", "unit-b", {"answer": "指标已下达"})
    await p.act(reopened, "confirmation", "unit-a", {"rating": 3})
    await p.synced()


async def figures(p: Platform, org: str = "hq", expect: int = 200, **params: Any) -> dict[str, Any]:
    r = await p.issues.get("/v1/issue-figures", params=params, headers=p.h(org))
    assert r.status_code == expect, r.text
    found: dict[str, Any] = r.json()
    return found


UNIT_B_JANUARY = {
    "unit_id": "unit-b", "date_from": "2024-01-01", "date_to": "2024-01-31",
    "resolved": 2, "resolved_on_time": 1, "on_time_rate": "0.5000",
    "mean_working_days_to_resolve": "2.0000", "p90_working_days_to_resolve": 3,
    "reopened": 1, "reopen_rate": "0.5000", "confirmed": 2, "mean_rating": "4.0000",
    "open_counted_at": "2024-01-08T02:00:00Z", "open_total": 2, "overdue_total": 1,  # January runs: at now
    "open_by_category": {"funding": 1, "land": 1}, "overdue_by_category": {"funding": 1},
    "open_by_level": {"hq": 1, "lead_unit": 1}, "overdue_by_level": {"lead_unit": 1},
}  # fmt: skip


async def test_figures_on_a_scripted_history_equal_after_rebuild(quiet_platform: Platform) -> None:
    p = quiet_platform
    await scripted_history(p)

    assert await figures(p, **JAN) == UNIT_B_JANUARY
    assert await figures(p, "unit-b", period="2024-01") == UNIT_B_JANUARY  # a unit's own, by default
    assert await figures(p, "supervision", unit_id="unit-b", date_from="2024-01-01", date_to="2024-01-31") == (
        UNIT_B_JANUARY
    )
    everyone = await figures(p, period="2024-Q1")
    assert (everyone["unit_id"], everyone["resolved"], everyone["open_total"], everyone["overdue_total"]) == (
        None, 2, 3, 2
    )  # fmt: skip
    february = await figures(p, unit_id="unit-b", period="2024-02")
    assert (february["resolved"], february["on_time_rate"], february["mean_rating"], february["open_total"]) == (
        0, None, None, 2
    )  # fmt: skip

    rt = p.issues_rt
    await rebuild(rt.pool, rt.store, read_model(), "issue_coordination_rebuild", until_seq=await rt.store.last_seq())
    january = Period(date(2024, 1, 1), date(2024, 1, 31))
    for unit_id in ("unit-b", "unit-c", None):
        live = await figures_in(rt, rt.schema, unit_id, january)
        rebuilt = await figures_in(rt, "issue_coordination_rebuild", unit_id, january)
        assert rebuilt == live
    rebuilt_b = await figures_in(rt, "issue_coordination_rebuild", "unit-b", january)
    view = IssueFiguresView(unit_id="unit-b", date_from=january.first, date_to=january.last, **vars(rebuilt_b))
    assert view.model_dump(mode="json") == UNIT_B_JANUARY


async def test_open_and_overdue_are_counted_as_they_stood_at_the_end_of_the_period(quiet_platform: Platform) -> None:
    p = quiet_platform
    await scripted_history(p)
    issues = await p.issues.get("/v1/issues", params={"unit_id": "unit-b", "status": "assigned"}, headers=p.h("hq"))
    by_category = {i["category"]: i["id"] for i in issues.json()["items"]}
    escalated, funding = by_category["land"], by_category["funding"]  # at hq (due 01-20) and overdue since 01-05

    # In February: the funding issue is resolved, the escalated one climbs to the leader and gets until March.
    p.clock.set_day(date(2024, 2, 5), hour=10)
    await p.act(funding, "acceptance", "unit-b")
    await p.act(funding, "resolution", "unit-b", {"answer": "资金已拨付"})
    await p.act(escalated, "escalations", "hq", {"reason": "仍未解决"})
    extension = {"requested_deadline": "2024-03-01T18:00:00+08:00", "reason": "需省级批复"}
    asked = await p.act(escalated, "extension-requests", "unit-b", extension, expect=201)
    await p.act(escalated, f"extension-requests/{asked['request_id']}/decision", "hq",
                {"decision": "approve", "reason": "同意"})  # fmt: skip
    await p.synced()

    january = await figures(p, **JAN)
    assert january["open_counted_at"] == "2024-01-31T16:00:00Z", "the end of 01-31, China time"
    assert {k: january[k] for k in ("open_total", "overdue_total", "open_by_level", "overdue_by_level",
                                    "overdue_by_category")} == {
        "open_total": 2, "overdue_total": 2, "open_by_level": {"hq": 1, "lead_unit": 1},
        "overdue_by_level": {"hq": 1, "lead_unit": 1}, "overdue_by_category": {"funding": 1, "land": 1},
    }, "as they stood at the end of January: both open, both past the deadlines then known"  # fmt: skip
    february = await figures(p, unit_id="unit-b", period="2024-02")  # still running: counted at now
    assert (february["open_counted_at"], february["open_total"], february["overdue_total"]) == (
        "2024-02-05T02:00:00Z", 1, 0,
    )  # fmt: skip
    assert february["open_by_level"] == {"leader": 1} and february["resolved"] == 1

    rt = p.issues_rt
    await rebuild(rt.pool, rt.store, read_model(), "issue_coordination_rebuild", until_seq=await rt.store.last_seq())
    for period in (Period(date(2024, 1, 1), date(2024, 1, 31)), Period(date(2024, 2, 1), date(2024, 2, 29))):
        for unit_id in ("unit-b", "unit-c", None):
            live = await figures_in(rt, rt.schema, unit_id, period)
            assert await figures_in(rt, "issue_coordination_rebuild", unit_id, period) == live, (period, unit_id)


async def test_who_reads_figures_and_bad_periods(quiet_platform: Platform) -> None:
    p = quiet_platform
    assert (await figures(p, "auditor", period="2024"))["resolved"] == 0
    forbidden = await figures(p, "unit-c", 403, unit_id="unit-b", period="2024")
    assert forbidden["errors"][0]["field"] == "unit_id"
    await figures(p, "leader-a", 403, period="2024")
    for params in ({"period": "2024-13"}, {"period": "2024-Q5"}, {}, {"period": "2024", "date_from": "2024-01-01"}):
        problem = await figures(p, "hq", 422, **params)
        assert problem["errors"][0]["field"] == "period", params
    reversed_span = await figures(p, "hq", 422, date_from="2024-02-01", date_to="2024-01-01")
    assert reversed_span["errors"][0]["field"] == "date_to"
