"""Who sees which dispatch meeting (调度会), the list of meetings and its filters, who may chair, and to whom a
decision may assign work: against the real services."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.intake.cli import bootstrap_organisation
from shared.envelope import Role
from tests.platform import SYSTEM_CTX, auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import MILESTONES, plan_body

UNIT_B_MILESTONES = [{**m, "unit_id": "unit-b"} for m in MILESTONES]


def meeting(title: str, when: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "special", "title": title, "scheduled_for": when, "programme_id": "prog", **extra}


async def _late_project(platform: Platform, **overrides: Any) -> str:
    """A project that should have started in January, with a plan: red once monitored in May."""
    pid = await platform.project(planned_start="2024-01-01", **overrides)
    milestones = UNIT_B_MILESTONES if overrides.get("unit_id") == "unit-b" else MILESTONES
    r = await platform.scheduling.post(
        "/v1/plans", json=plan_body(pid, milestones=milestones), headers=auth(platform.tokens["hq"])
    )
    assert r.status_code == 201, r.text
    await platform.synced()
    return pid


async def _post(platform: Platform, path: str, body: dict[str, Any], who: str) -> dict[str, Any]:
    r = await platform.scheduling.post(path, json=body, headers=auth(platform.tokens[who]))
    assert r.status_code in (200, 201), r.text
    result: dict[str, Any] = r.json()
    return result


async def test_each_role_sees_the_meetings_it_takes_part_in(platform: Platform) -> None:
    tokens = platform.tokens
    tokens["leader-b"] = await bootstrap_organisation(
        platform.intake_rt.store, "leader-b", "包保市领导乙", Role.LEADER, SYSTEM_CTX, demo=False, label="test"
    )
    await platform.synced()
    # p_b (unit-b, sponsored by leader-b) is red before the first meeting; p_a (unit-a, leader-a) only later.
    p_b = await _late_project(platform, name="乙单位的项目", unit_id="unit-b", sponsor_leader_id="leader-b")
    await platform.monitor(date(2024, 5, 6))
    await platform.synced()

    # M1: hq's city meeting chaired by leader-a; unit-a attends. Its agenda is p_b's (red), owned by unit-b.
    m1_body = meeting("5月市级调度会", "2024-05-08T09:00:00+08:00", kind="monthly", chair_id="leader-a")
    m1 = (await _post(platform, "/v1/meetings", m1_body, "hq"))["id"]
    # M2: unit-b's own weekly meeting.
    m2_body = meeting("乙单位周调度", "2024-05-13T15:00:00+08:00", kind="weekly", unit_id="unit-b")
    m2 = (await _post(platform, "/v1/meetings", m2_body, "unit-b"))["id"]
    p_a = await _late_project(platform, name="甲单位的项目")
    await platform.monitor(date(2024, 5, 7))
    await platform.synced()
    # M3: leader-a convenes and chairs; its agenda holds only the projects leader-a sponsors (p_a, not p_b).
    r = await platform.scheduling.post(
        "/v1/meetings", json=meeting("甲项目专题调度", "2024-05-20T00:30:00+08:00", chair_id="leader-a"),
        headers=auth(tokens["leader-a"]),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    m3 = r.json()["id"]
    await platform.synced()
    agenda = (await platform.scheduling.get(f"/v1/meetings/{m3}/agenda", headers=auth(tokens["hq"]))).json()
    assert {item["project_id"] for item in agenda["items"]} == {p_a}, agenda
    m1_agenda = (await platform.scheduling.get(f"/v1/meetings/{m1}/agenda", headers=auth(tokens["hq"]))).json()
    assert {item["project_id"] for item in m1_agenda["items"]} == {p_b}, m1_agenda

    # A leader may convene only a meeting it chairs itself.
    r = await platform.scheduling.post("/v1/meetings", json=meeting("代人安排", "2024-05-21T09:00:00+08:00",
                                       chair_id="leader-b"), headers=auth(tokens["leader-a"]))  # fmt: skip
    assert r.status_code == 403, r.text
    # The chair is a leader, hq, or the unit of its own weekly meeting; not some other unit.
    r = await platform.scheduling.post("/v1/meetings", json=meeting("x", "2024-05-21T09:00:00+08:00",
                                       chair_id="unit-a"), headers=auth(tokens["hq"]))  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "chair_id", r.text

    await _post(platform, f"/v1/meetings/{m1}/attendance", {"attendees": [{"org_id": "unit-a"}]}, "hq")
    # The chairing leader runs its meeting; another leader does not.
    await _post(platform, f"/v1/meetings/{m1}/minutes", {"minutes": "听取汇报。"}, "leader-a")
    r = await platform.scheduling.post(f"/v1/meetings/{m1}/minutes", json={"minutes": "改写"},
                                       headers=auth(tokens["leader-b"]))  # fmt: skip
    assert r.status_code == 403, r.text
    await platform.synced()

    expected = {
        "hq": {m1, m2, m3}, "supervision": {m1, m2, m3}, "auditor": {m1, m2, m3},
        "unit-a": {m1, m3},  # attends m1; owns m3's agenda item (p_a)
        "unit-b": {m1, m2},  # owns m1's agenda item (p_b); convenes m2
        "leader-a": {m1, m3},  # chairs both
        "leader-b": {m1, m2},  # sponsors p_b, on the agendas of m1 and m2 (unit-b's red project)
    }  # fmt: skip
    for who, visible in expected.items():
        r = await platform.scheduling.get("/v1/meetings", headers=auth(tokens[who]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert {m["id"] for m in body["items"]} == visible, who
        assert body["total"] == len(visible) and (body["limit"], body["offset"]) == (100, 0), who
        for meeting_id in (m1, m2, m3):
            r = await platform.scheduling.get(f"/v1/meetings/{meeting_id}", headers=auth(tokens[who]))
            assert r.status_code == (200 if meeting_id in visible else 403), (who, meeting_id, r.text)
            r = await platform.scheduling.get(f"/v1/meetings/{meeting_id}/agenda", headers=auth(tokens[who]))
            assert r.status_code == (200 if meeting_id in visible else 403), (who, meeting_id, r.text)

    # A decision on m2 (unit-b's meeting, nobody recorded as attending) may go to unit-b, not to unit-a, even about
    # unit-a's project; on m1 it may go to unit-a (attends) or to p_b's unit (the project concerned).
    r = await platform.scheduling.post(f"/v1/meetings/{m2}/decisions", headers=auth(tokens["hq"]), json={
        "text": "协调甲单位", "owner_unit_id": "unit-a", "deadline": "2024-05-31", "project_id": p_b})  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_unit_id", r.text
    r = await platform.scheduling.post(f"/v1/meetings/{m2}/decisions", headers=auth(tokens["hq"]), json={
        "text": "不存在的项目", "owner_unit_id": "unit-b", "deadline": "2024-05-31", "project_id": "nope"})  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "project_id", r.text
    own = {"text": "本周完成用地手续", "owner_unit_id": "unit-b", "deadline": "2024-05-31"}
    await _post(platform, f"/v1/meetings/{m2}/decisions", own, "unit-b")
    await _post(platform, f"/v1/meetings/{m1}/decisions",
                {"text": "乙单位月底前开工", "owner_unit_id": "unit-b", "deadline": "2024-05-31", "project_id": p_b},
                "leader-a")  # fmt: skip
    # Once unit-b attends m3 and owns one of its decisions, m3 is in unit-b's list too.
    await _post(platform, f"/v1/meetings/{m3}/attendance", {"attendees": [{"org_id": "unit-b"}]}, "leader-a")
    await _post(platform, f"/v1/meetings/{m3}/decisions",
                {"text": "乙单位配合", "owner_unit_id": "unit-b", "deadline": "2024-06-15"}, "leader-a")  # fmt: skip
    await platform.synced()
    r = await platform.scheduling.get("/v1/meetings", headers=auth(tokens["unit-b"]))
    assert {m["id"] for m in r.json()["items"]} == {m1, m2, m3}


async def test_meetings_list_by_date_and_programme_in_pages(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    r = await platform.intake.post("/v1/programmes", json={"id": "prog2", "name": "2025 重点项目", "year": 2025},
                                   headers=hq)  # fmt: skip
    assert r.status_code == 201, r.text
    await platform.synced()
    ids = {}
    for title, when, programme in [
        ("五月八日", "2024-05-08T09:00:00+08:00", "prog"),
        # Half past midnight in Beijing on 20 May is still 19 May in UTC: the day is the day in China.
        ("五月二十日凌晨", "2024-05-20T00:30:00+08:00", "prog"),
        ("五月二十日晚", "2024-05-20T23:30:00+08:00", "prog"),
        ("另一批次", "2024-05-10T09:00:00+08:00", "prog2"),
    ]:
        body = meeting(title, when, kind="monthly")
        body["programme_id"] = programme
        ids[title] = (await _post(platform, "/v1/meetings", body, "hq"))["id"]
    await platform.synced()

    async def listed(**params: Any) -> list[str]:
        r = await platform.scheduling.get("/v1/meetings", params=params, headers=hq)
        assert r.status_code == 200, r.text
        names = {v: k for k, v in ids.items()}
        return [names[m["id"]] for m in r.json()["items"]]

    assert await listed() == ["五月二十日晚", "五月二十日凌晨", "另一批次", "五月八日"]  # latest first
    assert await listed(programme_id="prog2") == ["另一批次"]
    assert await listed(programme_id="prog", date_from="2024-05-20") == ["五月二十日晚", "五月二十日凌晨"]
    assert await listed(programme_id="prog", date_to="2024-05-19") == ["五月八日"]
    assert await listed(date_from="2024-05-09", date_to="2024-05-10") == ["另一批次"]
    assert len(await listed(date_from="0001-01-01", date_to="9999-12-31")) == 4  # any calendar day is a bound
    r = await platform.scheduling.get("/v1/meetings", params={"limit": 2, "offset": 1}, headers=hq)
    assert r.json()["total"] == 4 and [m["title"] for m in r.json()["items"]] == ["五月二十日凌晨", "另一批次"]
    assert "agenda" not in r.json()["items"][0] and r.json()["items"][0]["agenda_count"] == 0
    r = await platform.scheduling.get("/v1/meetings", params={"date_from": "2024-05-10", "date_to": "2024-05-09"},
                                      headers=hq)  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.date_to", r.text
