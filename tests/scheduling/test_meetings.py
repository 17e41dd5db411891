"""Dispatch meetings (调度会): the agenda comes from the state; decisions become events with owner and deadline."""

from __future__ import annotations

from datetime import date

from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body


async def test_agenda_from_state_and_decisions_as_events(platform: Platform) -> None:
    hq, unit = auth(platform.tokens["hq"]), auth(platform.tokens["unit-a"])
    late = await platform.project(name="迟迟未开工的项目", planned_start="2024-01-01")
    fine = await platform.project(name="按计划推进的项目", planned_start="2024-06-01", unit_id="unit-b")
    r = await platform.scheduling.post("/v1/plans", json=plan_body(late), headers=unit)
    assert r.status_code == 201, r.text
    await platform.synced()
    platform.clock.set_day(date(2024, 5, 6))
    await platform.monitor(date(2024, 5, 6))
    await platform.synced()

    r = await platform.scheduling.post(
        "/v1/meetings",
        json={"kind": "monthly", "title": "5月市级调度会", "scheduled_for": "2024-05-08T09:00:00+08:00",
              "programme_id": "prog", "chair_id": "leader-a"},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    meeting_id = r.json()["id"]
    r = await platform.scheduling.get(
        f"/v1/meetings/{meeting_id}/agenda", params={"min_seq": r.json()["seq"]}, headers=hq
    )
    agenda = r.json()
    assert agenda["as_of"] == "2024-05-06"
    kinds = [(item["kind"], item["project_id"]) for item in agenda["items"]]
    assert kinds[0] == ("red_project", late)  # red first, with its reasons
    assert agenda["items"][0]["reasons"] and any("未开工" in x for x in agenda["items"][0]["reasons"])
    assert ("overdue_milestone", late) in kinds
    assert all(pid != fine for _, pid in kinds)  # nothing to discuss about a project on plan

    r = await platform.scheduling.post(
        f"/v1/meetings/{meeting_id}/attendance",
        json={"attendees": [{"org_id": "leader-a", "name": "包保市领导"}, {"org_id": "unit-a", "name": "责任单位甲"}]},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await platform.scheduling.post(
        f"/v1/meetings/{meeting_id}/minutes", json={"minutes": "会议听取了汇报。"}, headers=hq
    )
    assert r.status_code == 200
    r = await platform.scheduling.post(
        f"/v1/meetings/{meeting_id}/decisions",
        json={"text": "5月底前完成用地手续", "owner_unit_id": "unit-a", "deadline": "2024-05-31", "project_id": late},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    decision_id = r.json()["decision_id"]
    r = await platform.scheduling.post(
        f"/v1/meetings/{meeting_id}/decisions",
        json={"text": "请领导协调", "owner_unit_id": "leader-a", "deadline": "2024-05-31"},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_unit_id"
    # A unit cannot convene or minute a city meeting.
    r = await platform.scheduling.post(f"/v1/meetings/{meeting_id}/minutes", json={"minutes": "改写"}, headers=unit)
    assert r.status_code == 403

    events = await platform.scheduling_rt.store.read_aggregate("dispatch_meeting", meeting_id)
    assert [e.envelope.type for e in events] == [
        "DispatchMeetingScheduled", "MeetingAttendanceRecorded", "MeetingMinutesRecorded", "MeetingDecisionRecorded",
    ]  # fmt: skip
    decision = events[-1].envelope.payload
    assert decision == {"decision_id": decision_id, "text": "5月底前完成用地手续", "owner_unit_id": "unit-a",
                        "deadline": "2024-05-31", "project_id": late}  # fmt: skip
    r = await platform.scheduling.get(f"/v1/meetings/{meeting_id}", params={"min_seq": events[-1].seq}, headers=hq)
    assert r.json()["minutes"] == "会议听取了汇报。" and len(r.json()["attendees"]) == 2


async def test_a_unit_convenes_its_own_weekly_meeting_only(platform: Platform) -> None:
    unit = auth(platform.tokens["unit-a"])
    body = {"kind": "weekly", "title": "周调度", "scheduled_for": "2024-05-06T15:00:00+08:00", "programme_id": "prog"}
    r = await platform.scheduling.post("/v1/meetings", json={**body, "unit_id": "unit-a"}, headers=unit)
    assert r.status_code == 201, r.text
    r = await platform.scheduling.post("/v1/meetings", json={**body, "unit_id": "unit-b"}, headers=unit)
    assert r.status_code == 403
    r = await platform.scheduling.post("/v1/meetings", json=body, headers=auth(platform.tokens["auditor"]))
    assert r.status_code == 403
