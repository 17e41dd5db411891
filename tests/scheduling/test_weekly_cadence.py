"""The weekly cadence and truthful lights against real NATS, PostgreSQL and services: the missing list (本周未报)
under the deadline in force for each week, lights re-recorded when their reasons change, in the office's words,
and hq's run-now after the day's run.

A report's recording time is the log's (wall-clock) `recorded_at`, so these tests put the platform clock at the
real now and work in the real current ISO week; the exact Friday-17:00 boundary is pinned in
tests/scheduling/test_reporting_cadence.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.scheduling.missing_reports import missing_reports
from services.scheduling.reporting_cadence import IsoWeek, deadline
from shared.catalogue.scheduling import Rules
from shared.clock import today
from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body


def _to_real_now(platform: Platform) -> tuple[date, IsoWeek]:
    platform.clock.current = datetime.now(UTC)
    day = today(platform.clock)
    return day, IsoWeek.of(day)


async def _project(platform: Platform, year: int, **overrides: Any) -> str:
    pid = await platform.project(planned_start=f"{year}-01-05", planned_completion=f"{year + 1}-12-31", **overrides)
    r = await platform.intake.post(
        f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"},
        headers=auth(platform.tokens["hq"]),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = plan_body(pid, year=year, milestones=[])
    r = await platform.scheduling.post("/v1/plans", json=body, headers=auth(platform.tokens["hq"]))
    assert r.status_code == 201, r.text
    await platform.synced()
    return pid


async def _report(platform: Platform, pid: str, start: date, end: date, amount: str, unit: str = "unit-a") -> None:
    r = await platform.intake.post(
        f"/v1/projects/{pid}/progress-reports",
        json={"period_start": start.isoformat(), "period_end": end.isoformat(), "investment_this_period": amount,
              "image_progress_pct": "40"},
        headers=auth(platform.tokens[unit]),
    )  # fmt: skip
    assert r.status_code == 201, r.text


async def _missing(platform: Platform, who: str, **params: str) -> dict[str, Any]:
    await platform.synced()
    r = await platform.scheduling.get("/v1/reporting/missing", params=params, headers=auth(platform.tokens[who]))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_missing_list_follows_the_deadline_in_force_for_each_week(platform: Platform) -> None:
    day, this_week = _to_real_now(platform)
    last_week = IsoWeek.of(this_week.day(1) - timedelta(days=1))
    # From this week on the deadline is Sunday 23:59 (still ahead: the week's report can be on time now); last week
    # was under the default rule version, Friday 17:00 (long passed: a report of it filed now is late).
    r = await platform.scheduling.post(
        "/v1/rules",
        json={"effective_from": this_week.day(1).isoformat(), "note": "本周起周日 23:59 截止",
              "rules": {"report_deadline_weekday": 7, "report_deadline_hour": 23, "report_deadline_minute": 59}},
        headers=auth(platform.tokens["hq"]),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    late = await _project(platform, day.year, name="逾期补报项目")
    silent = await _project(platform, day.year, name="未报项目", unit_id="unit-b", sponsor_leader_id=None)
    punctual = await _project(platform, day.year, name="按时项目")
    before_late = platform.clock.now()  # the clock that stamps recorded_at (docs/adr/0017)
    platform.clock.advance(timedelta(seconds=1))
    await _report(platform, late, last_week.day(1), last_week.day(7), "10")
    await _report(platform, punctual, this_week.day(1), day, "10")

    before = await _missing(platform, "hq", week=last_week.label())
    assert before["week"] == last_week.label() and before["deadline_passed"] is True and before["rule_version"] == 1
    assert datetime.fromisoformat(before["deadline"]) == datetime.combine(
        last_week.day(5), datetime.min.time().replace(hour=17), tzinfo=datetime.fromisoformat(before["deadline"]).tzinfo
    )
    assert {(i["project_id"], i["status"]) for i in before["items"]} == {
        (late, "late"),
        (silent, "missing"),
        (punctual, "missing"),
    }
    assert before["total"] == 3
    assert {u["unit_id"]: (u["projects"], u["not_reported"]) for u in before["units"]} == {
        "unit-a": (2, 1),
        "unit-b": (1, 1),
    }
    [late_item] = [i for i in before["items"] if i["project_id"] == late]
    assert late_item["recorded_at"] is not None and late_item["unit_name"] == "责任单位甲"
    # The list as it stood before the late report came (what a report of that moment shows): missing.
    rt = platform.scheduling_rt
    async with rt.pool.acquire() as conn:
        then = await missing_reports(
            conn, rt.schema, last_week, now=before_late, recorded_by=before_late, programme_id="prog"
        )
    assert {(m.project_id, m.status.value) for m in then.projects} == {
        (late, "missing"),
        (silent, "missing"),
        (punctual, "missing"),
    }

    now = await _missing(platform, "hq", week=this_week.label())
    assert now["deadline_passed"] is False and now["rule_version"] == 2
    assert {(i["project_id"], i["status"]) for i in now["items"]} == {(late, "pending"), (silent, "pending")}
    assert (await _missing(platform, "hq"))["week"] == this_week.label()  # the current week by default

    # Who sees what: supervision all, a unit its own projects, a leader the ones it sponsors.
    assert (await _missing(platform, "supervision", week=last_week.label()))["total"] == 3
    assert {i["project_id"] for i in (await _missing(platform, "unit-b", week=last_week.label()))["items"]} == {silent}
    assert {i["project_id"] for i in (await _missing(platform, "leader-a", week=last_week.label()))["items"]} == {
        late,
        punctual,
    }
    paged = await _missing(platform, "hq", week=last_week.label(), limit="1", offset="1")
    assert paged["total"] == 3 and len(paged["items"]) == 1 and paged["items"][0] == before["items"][1]

    for bad in ("2025-W53", "2026-48", "2026-W1"):
        r = await platform.scheduling.get(
            "/v1/reporting/missing", params={"week": bad}, headers=auth(platform.tokens["hq"])
        )
        assert r.status_code == 422, r.text
        assert any("week" in e["field"] for e in r.json()["errors"]), r.json()


async def _light(platform: Platform, pid: str) -> dict[str, Any]:
    await platform.synced()
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _history(platform: Platform, pid: str) -> list[dict[str, Any]]:
    await platform.synced()
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light/history", headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    history: list[dict[str, Any]] = r.json()["items"]
    return history


async def _run_now(platform: Platform, **body: str) -> dict[str, Any]:
    r = await platform.scheduling.post("/v1/monitoring/runs", json=body, headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_run_now_after_the_days_run_picks_up_a_report_and_reasons_follow_the_figures(
    platform: Platform,
) -> None:
    day, this_week = _to_real_now(platform)
    # The newest week whose deadline (Friday 17:00) has passed: this one from Friday evening, else the last.
    passed = platform.clock.now() >= deadline(this_week, Rules())
    last_week = this_week if passed else IsoWeek.of(this_week.day(1) - timedelta(days=1))
    pid = await _project(platform, day.year)
    # Reported every week before that one, 300 万元 in all: far behind the time-proportional plan.
    await _report(platform, pid, date(day.year, 1, 5), last_week.day(1) - timedelta(days=1), "300")
    await platform.synced()

    scheduled = await platform.monitor(day)  # the day's run (the timer's)
    assert scheduled.lights_changed == 1 and not scheduled.already_complete
    first = await _light(platform, pid)
    assert first["colour"] == "red"
    reporting = " ".join(first["reporting"]["reasons"])
    assert (
        first["reporting"]["colour"] == "yellow" and f"{last_week.year}年第{last_week.week}周进度逾期未报" in reporting
    )
    assert [w["status"] for w in first["report_weeks"]][-1] == "missing"
    completion = first["investment_completion_pct"]
    assert completion == 25.0 and first["time_progress_pct"] > 25  # 300 of 1200
    assert any("投资完成率 25%(本年完成 300.0 万元" in r and "低于序时进度" in r for r in first["reasons"])

    # The unit reports that week (late) and more investment in between; the day's run is done and stays done.
    await _report(platform, pid, last_week.day(1), min(last_week.day(7), day), "60")
    await platform.synced()
    assert (await platform.monitor(day)).already_complete
    assert len(await _history(platform, pid)) == 1

    # hq's run-now re-evaluates with the data known now: same colour, new reasons, recorded.
    rerun = await _run_now(platform)
    assert rerun["rerun"] is True and rerun["already_complete"] is True and rerun["lights_changed"] == 1
    second = await _light(platform, pid)
    assert second["colour"] == "red" and second["as_of"] == day.isoformat()
    assert second["investment_completion_pct"] == 30.0 and second["reporting"]["colour"] == "yellow"  # 逾期补报
    assert any("投资完成率 30%(本年完成 360.0 万元" in r for r in second["reasons"])
    assert f"{last_week.year}年第{last_week.week}周进度逾期补报" in " ".join(second["reporting"]["reasons"])
    history = await _history(platform, pid)
    assert [(h["as_of"], h["colour"]) for h in history] == [(day.isoformat(), "red")] * 2
    assert history[0]["reasons"] != history[1]["reasons"]
    # The office's words only, never the index's name.
    every_reason = [r for h in history for dim in ("milestones", "investment", "reporting") for r in h[dim]["reasons"]]
    assert every_reason and not any("SPI" in r for r in every_reason)

    # Nothing changed since: another run-now records nothing; a day before today stays as it was shown.
    again = await _run_now(platform)
    assert again["rerun"] is True and again["lights_changed"] == 0
    assert len(await _history(platform, pid)) == 2
    yesterday = (day - timedelta(days=1)).isoformat()
    await _run_now(platform, day=yesterday)  # that day's run, caught up: stale next to today's light
    past = await _run_now(platform, day=yesterday)
    assert past["already_complete"] is True and past["rerun"] is False and past["lights_changed"] == 0
    assert len(await _history(platform, pid)) == 2

    # A run for a day after the platform's today is refused, naming the field.
    r = await platform.scheduling.post(
        "/v1/monitoring/runs", json={"day": (day + timedelta(days=1)).isoformat()}, headers=auth(platform.tokens["hq"])
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["day"], r.text


async def test_run_now_with_the_same_idempotency_key_records_once(platform: Platform) -> None:
    day, _ = _to_real_now(platform)
    pid = await _project(platform, day.year)
    await platform.monitor(day)
    await _report(platform, pid, date(day.year, 1, 5), day - timedelta(days=1), "900")  # periods may not overlap
    await platform.synced()
    hq = {**auth(platform.tokens["hq"]), "Idempotency-Key": "run-now-once"}
    first = await platform.scheduling.post("/v1/monitoring/runs", json={}, headers=hq)
    assert first.status_code == 200 and first.json()["lights_changed"] == 1, first.text
    before = await platform.scheduling_rt.store.last_seq()
    # The light changes again, but a retry of the same request appends nothing: its light ids are the first's.
    await _report(platform, pid, day, day, "300")
    await platform.synced()
    after_report = await platform.scheduling_rt.store.last_seq()
    retry = await platform.scheduling.post("/v1/monitoring/runs", json={}, headers=hq)
    assert retry.status_code == 200 and retry.json()["lights_changed"] == 0, retry.text
    assert after_report > before and await platform.scheduling_rt.store.last_seq() == after_report
    assert len(await _history(platform, pid)) == 2
