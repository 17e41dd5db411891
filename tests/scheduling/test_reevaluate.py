"""Re-evaluating one project's light (what a reaction to a report, phase or plan change calls): a same-day change
is recorded with the caller's event id; an unchanged light, a repeat or a stale day appends nothing."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.scheduling.monitoring import reevaluate_light
from shared.domain_errors import NotFound
from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_monitoring import CTX, _planned_project

JUNE_30 = date(2024, 6, 30)


async def _history(platform: Platform, pid: str) -> list[tuple[str, str, int]]:
    await platform.synced()
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light/history", headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    return [(h["as_of"], h["colour"], h["rule_version"]) for h in r.json()["items"]]


async def _report(platform: Platform, pid: str, start: str, end: str, amount: str, **extra: object) -> None:
    r = await platform.intake.post(
        f"/v1/projects/{pid}/progress-reports",
        json={"period_start": start, "period_end": end, "investment_this_period": amount, "image_progress_pct": "40",
              **extra},
        headers=auth(platform.tokens["unit-a"]),
    )  # fmt: skip
    assert r.status_code == 201, r.text


async def test_same_day_re_evaluation_records_a_change_and_an_unchanged_light_appends_nothing(
    platform: Platform,
) -> None:
    rt = platform.scheduling_rt
    pid = await _planned_project(platform, planned_start="2024-01-01")
    r = await platform.intake.post(
        f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"},
        headers=auth(platform.tokens["hq"]),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    done = [{"milestone_id": "permit", "done_on": "2024-03-20"}, {"milestone_id": "start", "done_on": "2024-04-25"}]
    await _report(platform, pid, "2024-06-17", "2024-06-23", "440", milestones_done=done)
    await platform.synced()
    # The day's run: 600 planned, 440 done -> yellow.
    assert (await platform.monitor(JUNE_30, rt)).lights_changed == 1
    assert await _history(platform, pid) == [("2024-06-30", "yellow", 1)]

    # Later that day the unit catches up: the investment is on plan, the report late (逾期补报, yellow by the default
    # rules), so the re-evaluation on the same day records the same colour with new reasons, with the given id.
    await _report(platform, pid, "2024-06-24", "2024-06-30", "160")
    await platform.synced()
    source = uuid.uuid4()
    outcome = await reevaluate_light(rt, pid, JUNE_30, CTX, source)
    assert outcome.appended and not outcome.replayed and outcome.event_id == source
    assert await _history(platform, pid) == [("2024-06-30", "yellow", 1), ("2024-06-30", "yellow", 1)]
    [event] = await rt.store.read_aggregate("light", pid, after_seq=outcome.seq - 1)
    assert event.envelope.id == source and event.envelope.payload["previous_colour"] == "yellow"
    assert event.envelope.payload["investment"]["colour"] == "green"

    # Nothing changed since: another trigger appends nothing; a redelivery of the same one neither.
    before = await rt.store.last_seq()
    unchanged = await reevaluate_light(rt, pid, JUNE_30, CTX, uuid.uuid4())
    assert not unchanged.appended and unchanged.seq == outcome.seq
    redelivered = await reevaluate_light(rt, pid, JUNE_30, CTX, source)
    assert redelivered.replayed and redelivered.seq == outcome.seq
    # A late daily run for the day before is stale next to the light on record: no light for it.
    assert (await platform.monitor(date(2024, 6, 29), rt)).lights_changed == 0
    assert len(await rt.store.read_aggregate("light", pid)) == 2
    assert await rt.store.last_seq() > before  # the late run did emit its monitoring items, only no light
    assert await _history(platform, pid) == [("2024-06-30", "yellow", 1), ("2024-06-30", "yellow", 1)]


async def test_an_unknown_project_is_not_found(platform: Platform) -> None:
    with pytest.raises(NotFound):
        await reevaluate_light(platform.scheduling_rt, "nope", JUNE_30, CTX, uuid.uuid4())
