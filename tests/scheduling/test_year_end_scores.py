"""The year-end evaluation (综合成效考评) of a scripted 2024 (tests/scheduling/year_end_history.py): the scores and
parts as counted by hand, every part traceable to the events behind it, and who may read what."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from shared.catalogue import CATALOGUE
from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.year_end_history import (
    EXPECTED,
    EXPECTED_SCORES,
    History,
    cst,
    evaluations,
    post,
    record_2024,
    script_2024,
)

PROG_2024 = {"programme_id": "prog", "year": 2024}
PART_TYPES = {
    "investment_completion": {"ProjectRegistered", "ProgressReported", "ProgressReportAccepted"},
    "milestones_on_time": {"PlanBaselineApproved", "MilestoneRebaselined", "MilestoneCompleted"},
    "issues_resolved_on_time": {"IssueRaised", "IssueAssigned", "ExtensionDecided", "IssueResolved"},
    "reports_on_time": {"ProjectRegistered", "ProgressReported"},
}
# How many events each part rests on (counted by hand from the script): a project's registration (planned figures
# and start); each counted report with its acceptance; the baseline and each re-baseline or completion; an issue's
# raising, the event that set the deadline it was judged on (assignment or granted extension) and its resolution.
EVENT_COUNTS = {
    "unit-a": {"investment_completion": 1 + 2 * 6, "milestones_on_time": 1 + 2, "issues_resolved_on_time": 3 + 3,
               "reports_on_time": 1 + 7},
    "unit-b": {"investment_completion": 1 + 2 * 6, "milestones_on_time": 1 + 1 + 2,
               "issues_resolved_on_time": 2 + 3, "reports_on_time": 1 + 6},
}  # fmt: skip


async def test_scores_parts_grades_and_ranks_are_those_counted_by_hand(platform: Platform) -> None:
    await script_2024(platform)
    answer = await record_2024(platform)
    units = answer["items"]
    assert {(u["run"], u["as_of"], u["rule_version"], u["programme_id"], u["year"]) for u in units} == {
        (1, "2024-12-31", 1, "prog", 2024)}  # fmt: skip
    assert [u["unit_id"] for u in units] == ["unit-b", "unit-a"] and answer["total"] == 2  # ranked, best first
    for unit in units:
        score, grade, rank = EXPECTED_SCORES[unit["unit_id"]]
        assert (unit["score"], unit["grade"], unit["rank"]) == (score, grade, rank), unit
        parts = {p["part"]: (p["value"], p["weight"], p["weighted"]) for p in unit["parts"]}
        assert parts == EXPECTED[unit["unit_id"]]
    counted = {p["part"]: (Decimal(p["numerator"]), Decimal(p["denominator"]), p["counted"])
               for p in units[1]["parts"]}  # fmt: skip
    assert counted == {"investment_completion": (3000, 4000, 6), "milestones_on_time": (1, 3, 3),
                       "issues_resolved_on_time": (1, 2, 2), "reports_on_time": (6, 8, 8)}  # fmt: skip
    assert units[1]["grade_label"] == "不合格" and units[0]["grade_label"] == "良好"


async def _belongs_to(platform: Platform, h: History, unit: str, event: Any) -> bool:
    env = event.envelope
    if env.aggregate_type == "project":
        return bool(env.aggregate_id == h.projects[unit])
    if env.aggregate_type == "plan":
        return bool(env.aggregate_id == h.plans[unit])
    return h.issues.get(env.aggregate_id) == unit


async def test_every_part_lists_the_events_behind_it(platform: Platform) -> None:
    h = await script_2024(platform)
    await record_2024(platform)
    store = platform.scheduling_rt.store
    for unit in ("unit-a", "unit-b"):
        r = await platform.scheduling.get(f"/v1/evaluations/units/{unit}", params=PROG_2024,
                                          headers=auth(platform.tokens["auditor"]))  # fmt: skip
        assert r.status_code == 200, r.text
        detail = r.json()
        assert detail["rule_version"] == 1 and detail["project_ids"] == [h.projects[unit]]
        for part in detail["parts"]:
            events = part["events"]
            assert len(events) == EVENT_COUNTS[unit][part["part"]] == part["event_count"], (unit, part)
            assert len({e["id"] for e in events}) == len(events)
            for ref in events:
                stored = await store.get(ref["seq"])
                assert str(stored.envelope.id) == ref["id"] and stored.envelope.type == ref["type"]
                assert ref["type"] in PART_TYPES[part["part"]], (part["part"], ref)
                assert await _belongs_to(platform, h, unit, stored), (unit, ref)
    # The issue part of 甲 names the resolution recorded late (ia2) and never the withdrawn issue (ia3).
    r = await platform.scheduling.get("/v1/evaluations/units/unit-a", params=PROG_2024,
                                      headers=auth(platform.tokens["hq"]))  # fmt: skip
    issue_events = next(p for p in r.json()["parts"] if p["part"] == "issues_resolved_on_time")["events"]
    issues = {(await store.get(e["seq"])).envelope.aggregate_id for e in issue_events}
    assert issues == {"ia1", "ia2"}
    late = [e for e in issue_events if e["type"] == "IssueResolved"]
    resolutions = [await store.get(e["seq"]) for e in late]
    assert {CATALOGUE.payload_of(e).answer for e in resolutions} == {"已解决"}  # type: ignore[attr-defined]


async def test_a_unit_reads_its_own_a_leader_its_sponsored_units_and_only_wide_readers_try_what_ifs(
    platform: Platform,
) -> None:
    await script_2024(platform)
    await record_2024(platform)
    own = await evaluations(platform, "unit-a")
    assert [u["unit_id"] for u in own["items"]] == ["unit-a"] and own["items"][0]["rank"] == 2
    sponsored = await evaluations(platform, "leader-a")  # leader-a sponsors 甲 only
    assert [u["unit_id"] for u in sponsored["items"]] == ["unit-a"]
    assert len((await evaluations(platform, "auditor"))["items"]) == 2
    r = await platform.scheduling.get("/v1/evaluations/units/unit-b", params=PROG_2024,
                                      headers=auth(platform.tokens["unit-a"]))  # fmt: skip
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    body = {"programme_id": "prog", "year": 2024}
    r = await platform.scheduling.post("/v1/evaluations/what-if", json=body, headers=auth(platform.tokens["unit-a"]))
    assert r.status_code == 403
    r = await platform.scheduling.post("/v1/evaluations", json={"programme_id": "prog"},
                                       headers=auth(platform.tokens["unit-a"]))  # fmt: skip
    assert r.status_code == 403


async def test_each_week_is_judged_by_the_deadline_of_the_lights_rule_version_in_force_for_it(
    platform: Platform,
) -> None:
    # Early in 2024 hq publishes lights rule version 2: from Monday 2 December (week 49) reports are due by
    # Wednesday 17:00. Weeks 45-48 keep Friday 17:00 (version 1 was in force for them).
    platform.clock.current = cst(date(2024, 1, 2), 9)
    strict = {"effective_from": "2024-12-02", "rules": {"report_deadline_weekday": 3}}
    await post(platform, "/v1/rules", strict, "hq")
    await platform.synced()
    await script_2024(platform)
    answer = await record_2024(platform)
    # 甲: W45, W46, W48 on time by Friday; W47 late (Saturday); W49-W51 filed on Fridays, after Wednesday: late;
    # W52 never: 3 / 8 = 37.50, × 15% = 5.625 -> 5.63; 30.00 + 10.00 + 7.50 + 5.63 = 53.13.
    # (Judged all year by the version in force on 31 December, it would be 0 / 8.) 乙 is unchanged: 4 / 8.
    units = {u["unit_id"]: u for u in answer["items"]}
    reports = {unit: next(p for p in u["parts"] if p["part"] == "reports_on_time") for unit, u in units.items()}
    assert {unit: (p["numerator"], p["denominator"], p["value"]) for unit, p in reports.items()} == {
        "unit-a": ("3", "8", "37.50"), "unit-b": ("4", "8", "50.00")}  # fmt: skip
    assert {unit: (u["score"], u["rank"]) for unit, u in units.items()} == {
        "unit-a": ("53.13", 2), "unit-b": ("85.00", 1)}  # fmt: skip
    r = await platform.scheduling.get("/v1/evaluations/units/unit-a", params=PROG_2024,
                                      headers=auth(platform.tokens["hq"]))  # fmt: skip
    assert (r.json()["reporting_rule_version"], r.json()["reporting_rule_versions"]) == (2, [1, 2])
    # On 6 January hq publishes lights version 3, reaching back to 4 November (lights rules may): Monday 17:00.
    # Published after 31 December, it changes neither what was shown nor what is now known for that day.
    platform.clock.current = cst(date(2025, 1, 6), 9)
    await post(platform, "/v1/rules", {"effective_from": "2024-11-04", "rules": {"report_deadline_weekday": 1}}, "hq")
    await platform.synced()
    assert await evaluations(platform, as_shown_on="2025-01-06") == answer
    known = await evaluations(platform, as_known_for="2024-12-31")
    assert {u["unit_id"]: (u["score"], u["rank"], u["run"]) for u in known["items"]} == {
        "unit-a": ("53.13", 2, None), "unit-b": ("85.00", 1, None)}  # fmt: skip
