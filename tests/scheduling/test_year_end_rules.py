"""Evaluation rules are versioned data: a recorded evaluation is what was shown; a later rule version changes neither
it nor a recomputation for the same date ("as now known for D"); a what-if re-ranks and records nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.year_end_history import (
    EXPECTED_SCORES,
    MONDAYS,
    cst,
    evaluations,
    post,
    record_2024,
    script_2024,
)

REPORTS_HEAVY = {"investment_completion": 10, "milestones_on_time": 10, "issues_resolved_on_time": 10,
                 "reports_on_time": 70}  # fmt: skip


def _scores(units: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {u["unit_id"]: (u["score"], u["rank"]) for u in units}


async def _problem(platform: Platform, path: str, body: dict[str, Any], status: int = 422) -> dict[str, Any]:
    r = await platform.scheduling.post(path, json=body, headers=auth(platform.tokens["hq"]))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    return problem


def _units(page: dict[str, Any]) -> dict[str, tuple[str, int, str, int | None, int]]:
    return {u["unit_id"]: (u["score"], u["rank"], u["grade"], u["run"], u["rule_version"]) for u in page["items"]}


async def test_a_rule_version_published_after_the_date_changes_neither_what_was_shown_nor_what_is_known_for_it(
    platform: Platform,
) -> None:
    h = await script_2024(platform)
    shown = await record_2024(platform)  # Sunday 5 January 2025, as of 31 December 2024
    as_recorded = {u: (s, rank, grade, 1, 1) for u, (s, grade, rank) in EXPECTED_SCORES.items()}
    assert _units(shown) == as_recorded
    known = await evaluations(platform, as_known_for="2024-12-31")
    assert _units(known) == {u: (s, rank, grade, None, 1) for u, (s, grade, rank) in EXPECTED_SCORES.items()}
    # On 5 January 2025 hq publishes version 2 (reports weigh 70), in force from 6 January; it may not reach back.
    rules = {"weights": REPORTS_HEAVY}
    problem = await _problem(platform, "/v1/evaluation-rules", {"effective_from": "2024-12-31", "rules": rules})
    assert problem["errors"][0]["field"] == "effective_from" and "追溯" in problem["errors"][0]["reason"]
    await post(platform, "/v1/evaluation-rules", {"effective_from": "2025-01-06", "rules": rules}, "hq")
    await platform.synced()
    r = await platform.scheduling.get("/v1/evaluation-rules", headers=auth(platform.tokens["auditor"]))
    assert [(v["version"], v["effective_from"]) for v in r.json()["items"]] == [(1, "2000-01-01"), (2, "2025-01-06")]
    # As of 4 January (record time), before version 2 was published: version 1 alone.
    then = await platform.scheduling.get(
        "/v1/evaluation-rules", params={"as_of": "2025-01-04"}, headers=auth(platform.tokens["auditor"])
    )
    assert then.status_code == 200 and "tiaodu-as-of" in then.headers, then.text
    assert then.json()["items"] == r.json()["items"][:1] and then.json()["total"] == 1
    # 7 January: version 2 is in force, and 甲 files its week-52 report at last (recorded after 31 December).
    platform.clock.current = cst(date(2025, 1, 7), 10)
    assert _units(await evaluations(platform, as_known_for="2024-12-31")) == _units(known)  # v2 changes nothing
    body = {"period_start": MONDAYS[7].isoformat(), "period_end": "2024-12-29", "investment_this_period": "500",
            "image_progress_pct": "10"}  # fmt: skip
    report = await post(platform, f"/v1/projects/{h.projects['unit-a']}/progress-reports", body, "unit-a", "intake")
    await post(platform, f"/v1/projects/{h.projects['unit-a']}/progress-reports/{report['report_id']}/review",
               {"decision": "accept"}, "hq", "intake")  # fmt: skip
    await platform.synced()

    # As shown: the recorded run, untouched, on the day it was recorded and after; nothing was shown before it.
    assert await evaluations(platform) == shown
    assert await evaluations(platform, as_shown_on="2025-01-05") == shown
    assert await evaluations(platform, as_shown_on="2025-01-07") == shown
    r = await platform.scheduling.get("/v1/evaluations", params={"programme_id": "prog", "year": 2024,
                                      "as_shown_on": "2025-01-04"}, headers=auth(platform.tokens["hq"]))  # fmt: skip
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    # As now known for 31 December: the late report counts (甲's investment 3500 / 4000 = 87.50, × 40% = 35.00;
    # the week is late, not on time: reports still 6 / 8), under version 1, the one in force on that day:
    # 甲 35.00 + 10.00 + 7.50 + 11.25 = 63.75 (合格); 乙 unchanged 85.00.
    now_known = await evaluations(platform, as_known_for="2024-12-31")
    assert _units(now_known) == {"unit-a": ("63.75", 2, "pass", None, 1), "unit-b": ("85.00", 1, "good", None, 1)}
    investment = next(p for p in now_known["items"][1]["parts"] if p["part"] == "investment_completion")
    assert (investment["numerator"], investment["denominator"], investment["value"]) == ("3500", "4000", "87.50")
    # A second recorded run for 2024 counts what was known by the end of 31 December (as the first did).
    await post(platform, "/v1/evaluations", {"programme_id": "prog", "year": 2024}, "hq")
    await platform.synced()
    again = await evaluations(platform)
    assert {(u["run"], u["rule_version"], u["as_of"]) for u in again["items"]} == {(2, 1, "2024-12-31")}
    unchanged = ("run",)
    assert [{k: v for k, v in u.items() if k not in unchanged} for u in again["items"]] == [
        {k: v for k, v in u.items() if k not in unchanged} for u in shown["items"]]  # fmt: skip
    assert await evaluations(platform, run=1) == shown
    assert await evaluations(platform, as_shown_on="2025-01-05") == shown
    # A unit's detail as of 6 January (record time) is the run recorded on the 5th; before it, none yet (404).
    detail = "/v1/evaluations/units/unit-a"
    for as_of, expected in ((None, 2), ("2025-01-06", 1), ("2025-01-04", None)):
        params = {"programme_id": "prog", "year": 2024, **({"as_of": as_of} if as_of else {})}
        r = await platform.scheduling.get(detail, params=params, headers=auth(platform.tokens["auditor"]))
        assert r.status_code == (404 if expected is None else 200), r.text
        assert expected is None or r.json()["run"] == expected, as_of
        assert ("tiaodu-as-of" in r.headers) == (as_of is not None and expected is not None), as_of
    recomputed = await post(platform, "/v1/evaluations/what-if", {"programme_id": "prog", "year": 2024,
                                                                  "recompute": True}, "hq")  # fmt: skip
    assert _scores(recomputed["units"]) == {"unit-a": ("63.75", 2), "unit-b": ("85.00", 1)}


async def test_a_what_if_re_ranks_under_other_weights_and_records_nothing(platform: Platform) -> None:
    await script_2024(platform)
    shown = await record_2024(platform)
    before = await platform.scheduling_rt.store.last_seq()
    body = {"programme_id": "prog", "year": 2024, "weights": REPORTS_HEAVY}
    answer = await post(platform, "/v1/evaluations/what-if", body, "auditor")
    # 甲: 75.00×10% + 33.33×10% + 50.00×10% + 75.00×70% = 7.50 + 3.33 + 5.00 + 52.50 = 68.33 (合格);
    # 乙: 100×10% + 100×10% + 50×10% + 50×70% = 10.00 + 10.00 + 5.00 + 35.00 = 60.00 (合格).
    assert [(u["unit_id"], u["score"], u["rank"], u["grade"], u["recorded_score"], u["recorded_rank"])
            for u in answer["units"]] == [("unit-a", "68.33", 1, "pass", "58.75", 2),
                                          ("unit-b", "60.00", 2, "pass", "85.00", 1)]  # fmt: skip
    assert answer["recorded_run"] == 1 and answer["recompute"] is False
    # Nothing appended but the record of the auditor's read itself (docs/adr/0033).
    store = platform.scheduling_rt.store
    appended = [(await store.get(seq)).envelope.type for seq in range(before + 1, await store.last_seq() + 1)]
    assert appended == ["AuditorAccessRecorded"]
    assert await evaluations(platform) == shown
    # A what-if under a published version's weights, and with a stricter grade line.
    await post(platform, "/v1/evaluation-rules", {"effective_from": "2025-01-06", "rules": {"weights": REPORTS_HEAVY}},
               "hq")  # fmt: skip
    await platform.synced()
    strict = {"excellent": "95", "good": "85", "passing": "65"}
    by_version = await post(
        platform,
        "/v1/evaluations/what-if",
        {"programme_id": "prog", "year": 2024, "rule_version": 2, "thresholds": strict},
        "hq",
    )
    assert [(u["unit_id"], u["score"], u["grade"]) for u in by_version["units"]] == [
        ("unit-a", "68.33", "pass"), ("unit-b", "60.00", "fail")]  # fmt: skip


async def test_bad_input_is_refused_naming_the_field(platform: Platform) -> None:
    await script_2024(platform)
    problem = await _problem(platform, "/v1/evaluations/what-if", {"programme_id": "prog", "year": 2024})
    assert problem["errors"][0]["field"] == "year" and "尚未" in problem["errors"][0]["reason"]  # none recorded yet
    await record_2024(platform)
    uneven = {"programme_id": "prog", "year": 2024, "weights": {**REPORTS_HEAVY, "reports_on_time": 60}}
    problem = await _problem(platform, "/v1/evaluations/what-if", uneven)
    assert problem["errors"][0]["field"].startswith("weights") and "100" in problem["errors"][0]["reason"]
    unknown = {"programme_id": "prog", "year": 2024, "rule_version": 9}
    assert (await _problem(platform, "/v1/evaluations/what-if", unknown))["errors"][0]["field"] == "rule_version"
    for body, field in (({"programme_id": "nope"}, "programme_id"),
                        ({"programme_id": "prog", "as_of": "2023-12-31"}, "as_of"),
                        ({"programme_id": "prog", "as_of": "2025-02-01", "year": 2025}, "as_of"),
                        ({"programme_id": "prog", "year": "2024"}, "year")):  # fmt: skip
        problem = await _problem(platform, "/v1/evaluations", body)
        assert problem["errors"][0]["field"] == field, (body, problem)
    lines = {"programme_id": "prog", "year": 2024, "thresholds": {"excellent": "80", "good": "85", "passing": "60"}}
    assert (await _problem(platform, "/v1/evaluations/what-if", lines))["errors"][0]["field"].startswith("thresholds")
    assert {u["run"] for u in (await evaluations(platform))["items"]} == {1}  # nothing half-written
