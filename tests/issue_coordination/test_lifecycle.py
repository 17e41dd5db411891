"""An issue's whole lifecycle through the API against the real servers: raised with site evidence, assigned by hq,
accepted, worked on (notes, an extension, a question to the raiser), resolved, rejected once (a reopen, counted),
resolved again and confirmed with a rating; each step an event on the issue's subject, shown in its timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.catalogue import CATALOGUE
from tests.issue_coordination.conftest import DEADLINE, Platform

PHOTO = b"\x89PNG\r\n\x1a\n" + b"site photo" * 100


async def upload(platform: Platform, project_id: str) -> str:
    r = await platform.intake.post(
        "/v1/attachments", params={"project_id": project_id, "name": "现场照片.png"}, content=PHOTO,
        headers=platform.h("unit-a", **{"content-type": "image/png"}),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    attachment_id: str = r.json()["id"]
    return attachment_id


async def test_whole_lifecycle_with_a_reopen(platform: Platform) -> None:
    project_id = await platform.project()
    photo = await upload(platform, project_id)
    body = {"project_id": project_id, "category": "utilities", "description": "专用变电站接入方案未批复",
            "help_requested": "协调供电公司加快批复", "priority": "urgent", "attachments": [photo]}  # fmt: skip
    keyed = platform.h("unit-a", **{"Idempotency-Key": "k1"})
    r = await platform.issues.post("/v1/issues", json=body, headers=keyed)
    assert r.status_code == 201, r.text
    issue_id, first = r.json()["id"], r.json()
    assert r.headers["Location"] == f"/v1/issues/{issue_id}" and r.headers["ETag"] == '"1"'
    again = await platform.issues.post("/v1/issues", json=body, headers=keyed)
    assert again.status_code == 201 and again.json() == first  # a retry appends nothing and answers as the first

    raised = await platform.issue(issue_id, min_seq=first["seq"])
    assert (raised["status"], raised["level"], raised["raised_by"], raised["category_label"]) == (
        "raised",
        None,
        "unit-a",
        "水电气",
    )
    assert raised["attachments"][0]["id"] == photo and raised["attachments"][0]["size"] == len(PHOTO)

    assign = {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"], "deadline": DEADLINE, "note": "请尽快协调"}
    await platform.act(issue_id, "assignment", "hq", assign)
    await platform.act(issue_id, "acceptance", "unit-b", {"note": "已受理"})
    await platform.act(issue_id, "notes", "unit-c", {"text": "已与供电公司对接"}, expect=201)
    ext = await platform.act(issue_id, "extension-requests", "unit-b",
                             {"requested_deadline": "2024-01-31T18:00:00+08:00", "reason": "需等待省公司批复"},
                             expect=201)  # fmt: skip
    await platform.act(issue_id, f"extension-requests/{ext['request_id']}/decision", "hq",
                       {"decision": "approve", "reason": "同意延期"})  # fmt: skip
    info = await platform.act(issue_id, "information-requests", "unit-b", {"question": "请提供用电负荷测算"},
                              expect=201)  # fmt: skip
    waiting = await platform.issue(issue_id, min_seq=info["seq"])
    assert waiting["waiting_for_raiser"]
    assert datetime.fromisoformat(waiting["deadline"]) == datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert waiting["deadline_source"] == "hq" and waiting["level"] == "lead_unit"
    r = await platform.issues.post(f"/v1/issues/{issue_id}/resolution", json={"answer": "已解决"},
                                   headers=platform.h("unit-b"))  # fmt: skip
    assert r.status_code == 409 and r.json()["current_status"] == "accepted", r.text
    await platform.act(issue_id, f"information-requests/{info['request_id']}/answer", "unit-a",
                       {"answer": "负荷测算见附件"})  # fmt: skip
    await platform.act(issue_id, "resolution", "unit-b", {"answer": "接入方案已批复"})
    rejected = await platform.act(issue_id, "rejection", "unit-a", {"reason": "批复文件尚未下达"})
    reopened = await platform.issue(issue_id, min_seq=rejected["seq"])
    assert (reopened["status"], reopened["reopen_count"], reopened["resolved_at"]) == ("accepted", 1, None)
    await platform.act(issue_id, "resolution", "unit-b", {"answer": "批复文件已下达"})
    done = await platform.act(issue_id, "confirmation", "unit-a", {"rating": 4, "comment": "满意"})

    closed = await platform.issue(issue_id, "unit-a", min_seq=done["seq"])
    assert (closed["status"], closed["status_label"], closed["rating"], closed["reopen_count"]) == (
        "confirmed",
        "已确认",
        4,
        1,
    )
    assert closed["answer"] == "批复文件已下达" and closed["version"] == 12 and not closed["waiting_for_raiser"]
    events = await platform.issues_rt.store.read_aggregate("issue", issue_id)
    types = [e.envelope.type for e in events]
    assert types == [
        "IssueRaised",
        "IssueAssigned",
        "IssueAccepted",
        "IssueNoteAdded",
        "ExtensionRequested",
        "ExtensionDecided",
        "InformationRequested",
        "InformationProvided",
        "IssueResolved",
        "ResolutionRejected",
        "IssueResolved",
        "ResolutionConfirmed",
    ]
    r = await platform.issues.get(f"/v1/issues/{issue_id}/timeline", headers=platform.h("unit-a"))
    timeline = r.json()
    assert timeline["total"] == len(events) == 12
    assert [e["type"] for e in timeline["items"]] == types
    assert timeline["items"][5]["summary"] == "延期审批" and timeline["items"][5]["actor_org_id"] == "hq"
    assert timeline["items"][0]["payload"]["attachments"][0]["sha256"]
    assert all(CATALOGUE.entry(t).aggregate_type == "issue" for t in types)


async def test_stale_if_match_is_refused_and_a_fresh_one_accepted(platform: Platform) -> None:
    issue_id = await platform.raise_issue(await platform.project())
    assign = {"lead_unit_id": "unit-b", "deadline": DEADLINE}
    r = await platform.issues.post(f"/v1/issues/{issue_id}/assignment", json=assign,
                                   headers=platform.h("hq", **{"If-Match": '"7"'}))  # fmt: skip
    assert r.status_code == 412 and r.json()["current_version"] == 1, r.text
    r = await platform.issues.post(f"/v1/issues/{issue_id}/assignment", json=assign,
                                   headers=platform.h("hq", **{"If-Match": '"1"'}))  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == 2, r.text


async def test_overdue_follows_the_clock_and_ends_with_the_resolution(platform: Platform) -> None:
    issue_id = await platform.raise_issue(await platform.project(), category="funding")
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await platform.act(issue_id, "acceptance", "unit-b")
    await platform.synced()

    async def overdue(flag: bool) -> list[str]:
        r = await platform.issues.get("/v1/issues", params={"overdue": str(flag).lower()}, headers=platform.h("hq"))
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await overdue(False) == [issue_id] and await overdue(True) == []
    platform.clock.advance(timedelta(days=30))  # past 2024-01-20 18:00
    assert await overdue(True) == [issue_id] and (await platform.issue(issue_id))["overdue"] is True
    done = await platform.act(issue_id, "resolution", "unit-b", {"answer": "资金已拨付"})
    await platform.issue(issue_id, min_seq=done["seq"])
    assert await overdue(True) == [] and await overdue(False) == [issue_id]


async def test_an_assignment_deadline_given_must_be_in_the_future(platform: Platform) -> None:
    """(Without one the rules compute it: tests/issue_coordination/test_issue_clock_api.py.)"""
    issue_id = await platform.raise_issue(await platform.project())
    for deadline, field in (("2023-12-01T18:00:00+08:00", "deadline"), ("2024-01-20T18:00:00", "deadline")):
        body = {"lead_unit_id": "unit-b", "deadline": deadline}
        r = await platform.issues.post(f"/v1/issues/{issue_id}/assignment", json=body, headers=platform.h("hq"))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (deadline, r.text)
    r = await platform.issues.post(
        f"/v1/issues/{issue_id}/assignment",
        json={"lead_unit_id": "unit-x", "deadline": DEADLINE},
        headers=platform.h("hq"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lead_unit_id", r.text
