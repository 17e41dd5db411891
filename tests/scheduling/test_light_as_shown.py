"""`GET /v1/projects/{id}/light?as_shown_on=D`: the light, reasons and rule version the monitoring of day D recorded,
never recomputed: later runs, later data and later rules leave it as it was."""

from __future__ import annotations

from datetime import date

from tests.platform import auth
from tests.scheduling.conftest import Platform


async def test_light_as_shown_on_a_day_is_the_one_recorded_then(platform: Platform) -> None:
    hq, unit_b = auth(platform.tokens["hq"]), auth(platform.tokens["unit-b"])
    # Planned to start in March, never started nor reported: red in May (late by 2 months) and in July (by 4).
    pid = await platform.project(name="迟迟未开工项目", planned_start="2024-03-01")
    await platform.monitor(date(2024, 5, 10))
    await platform.synced()
    may = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-05-10"}, headers=hq)
    assert may.status_code == 200, may.text
    before = may.json()
    assert before["colour"] == "red" and before["rule_version"] == 1 and before["as_of"] == "2024-05-10"
    assert any("已逾期 2 个月" in reason for reason in before["reasons"]), before["reasons"]

    # Stricter rules from June, then a July run: the project is red now, under rule version 2.
    stricter = {"effective_from": "2024-06-01", "rules": {"late_start_red_months": 2}, "note": "从严"}
    r = await platform.scheduling.post("/v1/rules", json=stricter, headers=hq)
    assert r.status_code == 201, r.text
    await platform.synced()
    await platform.monitor(date(2024, 7, 5))
    await platform.synced()
    now = (await platform.scheduling.get(f"/v1/projects/{pid}/light", headers=hq)).json()
    assert now["rule_version"] == 2 and any("已逾期 4 个月" in reason for reason in now["reasons"]), now

    # May 20 (no run that day) still shows what May 10 recorded: same colour, same words, same rule version, same event.
    again = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-05-20"}, headers=hq)
    assert again.status_code == 200, again.text
    assert {k: again.json()[k] for k in ("colour", "reasons", "rule_version", "seq")} == {
        k: before[k] for k in ("colour", "reasons", "rule_version", "seq")
    }
    july = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-07-05"}, headers=hq)
    assert july.json()["reasons"] == now["reasons"] and july.json()["seq"] > before["seq"]

    # Before the first run there was nothing to show; a day after the platform's today is not known yet.
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-05-09"}, headers=hq)
    assert r.status_code == 404
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2030-01-01"}, headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_shown_on"
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-13-01"}, headers=hq)
    assert r.status_code == 422
    # Another unit may not read it.
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-05-20"}, headers=unit_b)
    assert r.status_code == 403


async def test_a_light_recorded_later_for_an_earlier_day_was_not_shown_on_that_day(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    platform.clock.set_day(date(2024, 7, 5))
    pid = await platform.project(name="后补监测项目", planned_start="2024-03-01")
    # On 5 July hq runs the monitoring of 1 June, which never ran: the light is for 1 June, recorded on 5 July.
    r = await platform.scheduling.post("/v1/monitoring/runs", json={"day": "2024-06-01"}, headers=hq)
    assert r.status_code == 200 and r.json()["lights_changed"] == 1, r.text
    await platform.synced()
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-06-15"}, headers=hq)
    assert r.status_code == 404, r.text  # nothing was displayed in June
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", params={"as_shown_on": "2024-07-05"}, headers=hq)
    assert r.status_code == 200, r.text
    assert r.json()["as_of"] == "2024-06-01" and r.json()["recorded_on"] == "2024-07-05"
