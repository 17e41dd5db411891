"""Time travel in scheduling (docs/adr/0031): a plan as of a moment, and a project's light bitemporally.

"As shown on D" is what the monitoring of D recorded and displayed; "as now known for D" recomputes D from everything
recorded since (a report filed late counts) under the rule version in force on D as published by the end of D. A
rule version published after D, even one made effective from before D, changes neither answer."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body

D = date(2024, 6, 14)  # a Friday: the monitoring of D runs at 08:00


async def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def test_as_of_after_a_plan_revision_shows_the_earlier_draft(platform: Platform) -> None:
    platform.clock.set_day(date(2024, 2, 1))
    pid = await platform.project()
    unit = auth(platform.tokens["unit-a"])
    plan_id = (await _ok(await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)))["id"]
    drafted = platform.clock.now()
    platform.clock.advance(timedelta(days=3))
    revised = plan_body(pid, annual_target_investment="1300")
    del revised["project_id"], revised["year"]
    r = await platform.scheduling.put(f"/v1/plans/{plan_id}", json=revised, headers={**unit, "If-Match": "1"})
    await _ok(r)
    await platform.synced()
    live = await _ok(await platform.scheduling.get(f"/v1/plans/{plan_id}", headers=unit))
    assert live["annual_target_investment"] == "1300" and live["version"] == 2

    r = await platform.scheduling.get(
        f"/v1/plans/{plan_id}", params={"as_of": (drafted + timedelta(days=1)).isoformat()}, headers=unit
    )
    then = await _ok(r)
    assert then["annual_target_investment"] == "1200" and then["version"] == 1
    assert set(then) == set(live) and "tiaodu-as-of" in r.headers
    r = await platform.scheduling.get(f"/v1/plans/{plan_id}", params={"as_of": "2024-01-31"}, headers=unit)
    assert r.status_code == 404 and "尚不存在" in r.json()["detail"]
    r = await platform.scheduling.get(f"/v1/plans/{plan_id}", params={"as_of": "31/01/2024"}, headers=unit)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"


async def test_as_shown_on_d_and_as_now_known_for_d_with_a_late_report_and_a_later_rule(platform: Platform) -> None:
    hq, unit = auth(platform.tokens["hq"]), auth(platform.tokens["unit-a"])
    platform.clock.set_day(date(2024, 3, 1))
    pid = await platform.project(name="补报项目", planned_start="2024-03-01")
    r = await platform.intake.post(
        f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"}, headers=hq
    )
    await _ok(r)
    # No report since March: the monitoring of D shows red (weeks missing, nothing invested on record).
    await platform.monitor(D)
    await platform.synced()
    light = f"/v1/projects/{pid}/light"
    shown = await _ok(await platform.scheduling.get(light, params={"as_shown_on": D.isoformat()}, headers=hq))
    assert shown["colour"] == "red" and shown["rule_version"] == 1, shown
    assert shown["reporting"]["colour"] == "red", shown["reporting"]
    # The day's monitoring as of a moment before its 08:00 run had recorded nothing; at the end of D, all of it.
    days = f"/v1/monitoring/days/{D.isoformat()}"
    live_day = await _ok(await platform.scheduling.get(days, headers=hq))
    assert live_day["items"], live_day
    early = await _ok(
        await platform.scheduling.get(days, params={"as_of": f"{D.isoformat()}T07:00:00+08:00"}, headers=hq)
    )
    assert early["items"] == []
    assert (await _ok(await platform.scheduling.get(days, params={"as_of": D.isoformat()}, headers=hq))) == live_day

    # On 20 June the unit files, late, the report for March to 13 June: on plan (40% against ~35% time progress).
    platform.clock.set_day(date(2024, 6, 20), hour=10)
    report = {"period_start": "2024-03-01", "period_end": "2024-06-13", "investment_this_period": "1600",
              "image_progress_pct": "35"}  # fmt: skip
    await _ok(await platform.intake.post(f"/v1/projects/{pid}/progress-reports", json=report, headers=unit))
    await platform.synced()

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        keys = ("colour", "rule_version", "investment", "reporting", "milestones")
        return {k: body[k] for k in keys}

    known = await _ok(await platform.scheduling.get(light, params={"as_known_for": D.isoformat()}, headers=hq))
    # As now known, D was on plan, its reports filed late (yellow under rule version 1): not what D showed.
    assert known["investment"]["colour"] == "green", known["investment"]
    assert known["reporting"]["colour"] == "yellow", known["reporting"]
    assert known["colour"] == "yellow" and known["rule_version"] == 1 and known["recorded"] is False
    assert known["as_known_for"] == D.isoformat()
    again = await _ok(await platform.scheduling.get(light, params={"as_shown_on": D.isoformat()}, headers=hq))
    assert answer(again) == answer(shown) and again["seq"] == shown["seq"]

    # On 21 June hq publishes rule version 2, backdated to 1 June: a late report is red from then on.
    platform.clock.set_day(date(2024, 6, 21), hour=10)
    stricter = {"effective_from": "2024-06-01", "rules": {"report_filed_late_colour": "red"}, "note": "补报从严"}
    await _ok(await platform.scheduling.post("/v1/rules", json=stricter, headers=hq))
    await platform.synced()
    # The rule would change D's light if it were applied after the fact (the what-if takes the current rule set)...
    what_if = await _ok(await platform.scheduling.get(f"{light}/what-if", params={"as_of": D.isoformat()}, headers=hq))
    assert what_if["rule_version"] == 2 and what_if["colour"] == "red", what_if
    # ...but it was published after D: neither answer for D changes.
    known_after = await _ok(await platform.scheduling.get(light, params={"as_known_for": D.isoformat()}, headers=hq))
    assert answer(known_after) == answer(known)
    shown_after = await _ok(await platform.scheduling.get(light, params={"as_shown_on": D.isoformat()}, headers=hq))
    assert answer(shown_after) == answer(shown) and shown_after["seq"] == shown["seq"]
    # For a day after its publication, the same question does take it.
    later = await _ok(await platform.scheduling.get(light, params={"as_known_for": "2024-06-21"}, headers=hq))
    assert later["rule_version"] == 2

    # The rule set as of D lists only version 1; the light as of the end of D is the one recorded that morning.
    rules_then = await _ok(await platform.scheduling.get("/v1/rules", params={"as_of": D.isoformat()}, headers=hq))
    assert [v["version"] for v in rules_then["items"]] == [1]
    light_then = await _ok(await platform.scheduling.get(light, params={"as_of": D.isoformat()}, headers=hq))
    assert light_then["colour"] == "red" and light_then["seq"] == shown["seq"]

    # One view at a time; a day not yet come is not known; another unit may not look.
    r = await platform.scheduling.get(light, params={"as_known_for": "2024-06-14", "as_shown_on": "2024-06-14"},
                                      headers=hq)  # fmt: skip
    assert r.status_code == 422, r.text
    r = await platform.scheduling.get(light, params={"as_known_for": "2024-07-01"}, headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_known_for"
    r = await platform.scheduling.get(light, params={"as_known_for": D.isoformat()},
                                      headers=auth(platform.tokens["unit-b"]))  # fmt: skip
    assert r.status_code == 403


async def test_a_meeting_as_of_before_its_minutes(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    platform.clock.set_day(date(2024, 5, 6))
    body = {"kind": "monthly", "title": "5月市级调度会", "scheduled_for": "2024-05-08T09:00:00+08:00",
            "programme_id": "prog", "chair_id": "leader-a"}  # fmt: skip
    meeting_id = (await _ok(await platform.scheduling.post("/v1/meetings", json=body, headers=hq)))["id"]
    scheduled = platform.clock.now()
    platform.clock.set_day(date(2024, 5, 8), hour=11)
    minutes = {"minutes": "会议听取了汇报。"}
    written = await _ok(await platform.scheduling.post(f"/v1/meetings/{meeting_id}/minutes", json=minutes, headers=hq))
    path = f"/v1/meetings/{meeting_id}"
    live = await _ok(await platform.scheduling.get(path, params={"min_seq": written["seq"]}, headers=hq))
    assert live["minutes"] == "会议听取了汇报。"
    then = await _ok(await platform.scheduling.get(path, params={"as_of": "2024-05-07"}, headers=hq))
    assert then["minutes"] != live["minutes"] and then["version"] < live["version"] and set(then) == set(live)
    agenda = await platform.scheduling.get(f"{path}/agenda", params={"as_of": scheduled.isoformat()}, headers=hq)
    assert agenda.status_code == 200 and "tiaodu-as-of" in agenda.headers
    r = await platform.scheduling.get(path, params={"as_of": "2024-05-05"}, headers=hq)
    assert r.status_code == 404 and "尚不存在" in r.json()["detail"]


async def test_as_now_known_for_d_takes_the_phase_of_d(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    platform.clock.set_day(date(2024, 3, 1))
    pid = await platform.project(name="迟开工项目", planned_start="2024-03-01")
    # Started (开工) on 20 June, after D: on D it was 3 months late, whatever is known since.
    platform.clock.set_day(date(2024, 6, 20), hour=10)
    r = await platform.intake.post(
        f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"}, headers=hq
    )
    await _ok(r)
    await platform.synced()
    light = f"/v1/projects/{pid}/light"
    known = await _ok(await platform.scheduling.get(light, params={"as_known_for": D.isoformat()}, headers=hq))
    assert known["colour"] == "red", known
    assert any("未开工" in reason for reason in known["milestones"]["reasons"]), known["milestones"]
    # The what-if asks another question (D under today's facts): the project counts as started.
    what_if = await _ok(await platform.scheduling.get(f"{light}/what-if", params={"as_of": D.isoformat()}, headers=hq))
    assert not any("未开工" in reason for reason in what_if["milestones"]["reasons"]), what_if["milestones"]
