"""What a rule version adds (docs/adr/0037): 督办 orders on time, meeting decisions on time and weeks red (a
deduction) weighed into the score, each part listing the events behind it; a what-if may try them on a run that did
not list them (the parts folded again as known at that run); an unknown indicator is refused naming the field."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.catalogue import CATALOGUE
from shared.catalogue.scheduling import Colour, StatusLightChanged
from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.year_end_history import (
    ADDED_RULES,
    EXPECTED_ADDED,
    EXPECTED_ADDED_SCORES,
    cst,
    evaluations,
    post,
    script_2024,
    script_added,
)

# Under version 1 (the four parts): 甲 as in script_2024, 58.75; 乙's issues now count the decision too: 2 / 3 =
# 66.67 × 15% = 10.00, so 40.00 + 30.00 + 10.00 + 7.50 = 87.50.
FOUR_PARTS_SCORES = {"unit-a": ("58.75", 2), "unit-b": ("87.50", 1)}
ONE_A_WEEK = {"points_each": "1", "at_most": "3"}


async def _refused(platform: Platform, rules: dict[str, Any]) -> dict[str, str]:
    body = {"effective_from": "2024-12-31", "rules": rules}
    r = await platform.scheduling.post("/v1/evaluation-rules", json=body, headers=auth(platform.tokens["hq"]))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    error: dict[str, str] = r.json()["errors"][0]
    return error


def _scores(units: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {u["unit_id"]: (u["score"], u["rank"]) for u in units}


async def _events_of(platform: Platform, unit: str, part: str) -> list[tuple[str, str, Any]]:
    """(type, aggregate id, payload) of the events behind `part` of `unit` in the latest run, read from the log."""
    r = await platform.scheduling.get(f"/v1/evaluations/units/{unit}", params={"programme_id": "prog", "year": 2024},
                                      headers=auth(platform.tokens["auditor"]))  # fmt: skip
    assert r.status_code == 200, r.text
    refs = next(p for p in r.json()["parts"] if p["part"] == part)["events"]
    found = []
    for ref in refs:
        stored = await platform.scheduling_rt.store.get(ref["seq"])
        assert str(stored.envelope.id) == ref["id"] and stored.envelope.type == ref["type"]
        found.append((ref["type"], stored.envelope.aggregate_id, CATALOGUE.payload_of(stored)))
    return found


async def test_a_rule_version_adds_parts_from_the_catalogue_each_traced_to_its_events(platform: Platform) -> None:
    h = await script_2024(platform)
    await script_added(platform, h)
    # Monday 30 December: hq publishes version 2, adding the three indicators, in force from 31 December.
    for rules, field in (({**ADDED_RULES, "weights": {**ADDED_RULES["weights"], "safety_incidents": 0}},
                          "rules.weights.safety_incidents"),
                         ({**ADDED_RULES, "deductions": {"investment_completion": ONE_A_WEEK}},
                          "rules.deductions"),
                         ({"weights": {**ADDED_RULES["weights"], "red_weeks": 0}}, "rules.weights"),
                         ({**ADDED_RULES, "deductions": {"weeks_on_fire": ONE_A_WEEK}},
                          "rules.deductions.weeks_on_fire")):  # fmt: skip
        error = await _refused(platform, rules)
        assert error["field"].startswith(field), (rules, error)
    await post(platform, "/v1/evaluation-rules", {"effective_from": "2024-12-31", "rules": ADDED_RULES}, "hq")
    await platform.synced()

    # 5 January 2025: a run as of 30 December (version 1 in force: the four parts), then a what-if trying version
    # 2's parts on it: they are folded again as known when that run was recorded, and nothing is recorded.
    platform.clock.current = cst(date(2025, 1, 5), 10)
    await post(platform, "/v1/evaluations", {"programme_id": "prog", "as_of": "2024-12-30"}, "hq")
    await platform.synced()
    first = await evaluations(platform)
    assert {(u["run"], u["rule_version"]) for u in first["items"]} == {(1, 1)}
    assert _scores(first["items"]) == FOUR_PARTS_SCORES
    assert all(len(u["parts"]) == 4 for u in first["items"])
    tried = await post(platform, "/v1/evaluations/what-if", {"programme_id": "prog", "year": 2024, **ADDED_RULES},
                       "auditor")  # fmt: skip
    assert tried["refolded"] is True and tried["recompute"] is False
    assert _scores(tried["units"]) == {u: (s, rank) for u, (s, _, rank) in EXPECTED_ADDED_SCORES.items()}
    assert {u["unit_id"]: (u["recorded_score"], u["recorded_rank"]) for u in tried["units"]} == FOUR_PARTS_SCORES
    assert await evaluations(platform) == first

    # A run as of 31 December: version 2 in force, every part listed with its value, weight and weighted score.
    await post(platform, "/v1/evaluations", {"programme_id": "prog"}, "hq")
    await platform.synced()
    second = await evaluations(platform)
    assert {(u["run"], u["rule_version"], u["as_of"]) for u in second["items"]} == {(2, 2, "2024-12-31")}
    for unit in second["items"]:
        score, grade, rank = EXPECTED_ADDED_SCORES[unit["unit_id"]]
        assert (unit["score"], unit["grade"], unit["rank"]) == (score, grade, rank), unit
        assert {p["part"]: (p["value"], p["weight"], p["weighted"]) for p in unit["parts"]} == EXPECTED_ADDED[
            unit["unit_id"]]  # fmt: skip
        assert [p["part"] for p in unit["parts"]] == list(EXPECTED_ADDED[unit["unit_id"]])  # catalogue order
    red = next(p for p in second["items"][1]["parts"] if p["part"] == "red_weeks")
    assert (red["numerator"], red["denominator"], red["counted"], red["label"]) == ("5", "7", 5, "红灯周数扣分")

    # Each added part names the events behind it.
    orders = await _events_of(platform, "unit-a", "supervision_orders_on_time")
    assert sorted((t, agg) for t, agg, _ in orders) == [
        ("SupervisionOrderClosed", "oa1"),
        ("SupervisionOrderIssued", "oa1"),
        ("SupervisionOrderIssued", "oa2"),
    ]
    assert [(t, agg) for t, agg, _ in await _events_of(platform, "unit-b", "supervision_orders_on_time")] == [
        ("SupervisionOrderIssued", "ob1"),
        ("SupervisionOrderClosed", "ob1"),
    ]  # ob2 is not due in 2024
    decisions = await _events_of(platform, "unit-b", "meeting_decisions_on_time")
    assert [(t, agg) for t, agg, _ in decisions] == [("MeetingDecisionTracked", "db1"), ("IssueResolved", "db1")]
    assert await _events_of(platform, "unit-a", "meeting_decisions_on_time") == []
    lights = await _events_of(platform, "unit-a", "red_weeks")
    assert [(p.as_of, p.colour) for _, _, p in lights if isinstance(p, StatusLightChanged)] == [
        (date(2024, 11, 18), Colour.RED), (date(2024, 12, 20), Colour.RED)]  # fmt: skip
    assert {agg for _, agg, _ in lights} == {h.projects["unit-a"]}

    # Back to version 1's weights on the run that lists every part: the recorded parts reweighed, not refolded.
    back = await post(platform, "/v1/evaluations/what-if", {"programme_id": "prog", "year": 2024, "rule_version": 1},
                      "hq")  # fmt: skip
    assert back["refolded"] is False
    assert _scores(back["units"]) == FOUR_PARTS_SCORES
