"""Change requests (变更申请) against the real intake service: a unit files, hq decides, and only an approval moves
the project, through intake's `change_requests` reaction; a unit's direct attempt is refused with 403 pointing to the
change request. Real NATS and PostgreSQL; every wait is on a fact (a sequence reached, an event in the log)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from services.intake.reactions import CHANGE_REQUESTS, apply_approved_change
from shared.envelope import Actor, Role
from shared.eventstore import StoredEvent
from shared.reactions import Cause, derived_event_id
from tests.intake.conftest import Intake
from tests.intake.test_attachments import PNG, _upload
from tests.platform import auth, new_key, project_body, wait_until

CANCEL = {"kind": "cancel", "reason": "规划调整,项目不再实施"}


async def _project(intake: Intake, **overrides: Any) -> str:
    r = await intake.client.post("/v1/projects", json=project_body(**overrides), headers=auth(intake.tokens["hq"]))
    assert r.status_code == 201, r.text
    project_id: str = r.json()["id"]
    return project_id


async def _get(intake: Intake, path: str, token: str = "hq", **params: Any) -> Any:
    r = await intake.client.get(path, params=params, headers=auth(intake.tokens[token]))
    assert r.status_code == 200, r.text
    return r.json()


async def _file(intake: Intake, pid: str, body: dict[str, Any], token: str = "unit-a", status: int = 201) -> Any:
    r = await intake.client.post(f"/v1/projects/{pid}/change-requests", json=body, headers=auth(intake.tokens[token]))
    assert r.status_code == status, r.text
    return r.json()


async def _decide(intake: Intake, cr_id: str, decision: str, token: str = "hq", status: int = 200) -> Any:
    body = {"decision": decision, "reason": "经研究同意" if decision == "approve" else "理由不充分,不予调整"}
    r = await intake.client.post(f"/v1/change-requests/{cr_id}/decision", json=body, headers=auth(intake.tokens[token]))
    assert r.status_code == status, r.text
    return r.json()


async def _project_events(intake: Intake, pid: str, event_type: str) -> list[StoredEvent]:
    return [e for e in await intake.runtime.store.read_aggregate("project", pid) if e.envelope.type == event_type]


async def _applied(intake: Intake, pid: str, event_type: str) -> StoredEvent:
    """Wait until the reaction has appended the approved change to the project, and the read model shows it."""

    async def found() -> bool:
        return any(e.envelope.payload.get("change_request_id") for e in await _project_events(intake, pid, event_type))

    await wait_until(found, 15, f"{event_type} from an approved change request")
    [event] = [e for e in await _project_events(intake, pid, event_type) if e.envelope.payload.get("change_request_id")]
    assert await intake.runtime.runner.wait_for(event.seq, 10)
    return event


async def test_unit_files_a_cancel_and_only_hqs_approval_cancels_the_project(intake: Intake) -> None:
    pid = await _project(intake)
    uploaded = await _upload(intake, pid, PNG, "image/png", "unit-a")  # the evidence: a site photo
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["id"]
    filed = await _file(intake, pid, CANCEL | {"evidence": [photo]})
    cr_id = filed["id"]
    request = await _get(intake, f"/v1/change-requests/{cr_id}", "unit-a", min_seq=filed["seq"])
    assert request["status"] == "pending" and request["kind"] == "cancel" and request["filed_by"] == "unit-a"
    assert request["evidence"] == [photo] and request["unit_id"] == "unit-a"
    [event] = await intake.runtime.store.read_aggregate("change_request", cr_id)
    [ref] = event.envelope.payload["attachments"]  # what the server measured of the photo, in the event
    assert (ref["id"], ref["sha256"], ref["size"]) == (photo, hashlib.sha256(PNG).hexdigest(), len(PNG))
    # Filed is not approved: the project is as it was.
    assert (await _get(intake, f"/v1/projects/{pid}", min_seq=filed["seq"]))["phase"] == "preliminary"

    await _decide(intake, cr_id, "approve", token="unit-a", status=403)  # a unit cannot decide its own request
    decided = await _decide(intake, cr_id, "approve")
    event = await _applied(intake, pid, "ProjectPhaseChanged")
    assert event.envelope.payload["to_phase"] == "cancelled" and event.envelope.payload["change_request_id"] == cr_id
    assert "经研究同意" in event.envelope.payload["reason"]
    # The reaction's event: derived from the approval's id, caused by it, appended by the platform.
    approval = (await intake.runtime.store.read_aggregate("change_request", cr_id))[-1]
    assert approval.envelope.type == "ChangeRequestApproved" and approval.seq == decided["seq"]
    assert event.envelope.id == derived_event_id(approval.envelope.id, CHANGE_REQUESTS)
    assert event.envelope.causation_id == str(approval.envelope.id)
    project = await _get(intake, f"/v1/projects/{pid}", min_seq=event.seq)
    assert project["phase"] == "cancelled"
    request = await _get(intake, f"/v1/change-requests/{cr_id}", min_seq=event.seq)
    assert request["status"] == "approved" and request["decided_by"] == "hq"
    assert request["decision_reason"] == "经研究同意"
    # Deciding twice is refused, and the approval had exactly one effect.
    await _decide(intake, cr_id, "reject", status=409)
    assert await intake.runtime.settled(10)
    assert len(await _project_events(intake, pid, "ProjectPhaseChanged")) == 1


async def test_a_rejection_moves_nothing(intake: Intake) -> None:
    pid = await _project(intake)
    body = {"kind": "planned_dates", "reason": "征地延期", "planned_start": "2024-09-01"}
    cr_id = (await _file(intake, pid, body))["id"]
    rejected = await _decide(intake, cr_id, "reject")
    assert await intake.runtime.settled(10)
    assert await _project_events(intake, pid, "ProjectDetailsAmended") == []
    project = await _get(intake, f"/v1/projects/{pid}", min_seq=rejected["seq"])
    assert project["planned_start"] == "2024-03-01"
    request = await _get(intake, f"/v1/change-requests/{cr_id}", "unit-a", min_seq=rejected["seq"])
    assert request["status"] == "rejected" and request["decision_reason"] == "理由不充分,不予调整"
    # Once decided, the unit may file again for the same kind.
    again = await _file(intake, pid, body | {"reason": "征地延期(补充材料)"})
    assert again["id"] != cr_id


async def test_approved_planned_dates_and_investment_amend_the_project(intake: Intake) -> None:
    pid = await _project(intake)
    dates = await _file(intake, pid, {"kind": "planned_dates", "reason": "征地延期", "planned_start": "2024-09-01"})
    money = await _file(
        intake, pid, {"kind": "planned_investment", "reason": "设计变更", "annual_planned_investment": "3000"}
    )
    await _decide(intake, dates["id"], "approve")
    await _decide(intake, money["id"], "approve")

    async def both_applied() -> bool:
        events = await _project_events(intake, pid, "ProjectDetailsAmended")
        return {e.envelope.payload.get("change_request_id") for e in events} == {dates["id"], money["id"]}

    await wait_until(both_applied, 15, "both amendments")
    amended = await _project_events(intake, pid, "ProjectDetailsAmended")
    project = await _get(intake, f"/v1/projects/{pid}", min_seq=max(e.seq for e in amended))
    assert project["planned_start"] == "2024-09-01" and project["annual_planned_investment"] == "3000"
    assert project["total_investment"] == "10000"  # what the request did not name stays
    # A redelivery of the approval (a restart between the command and the checkpoint, a second replica) appends
    # nothing, although the same amendment would be accepted again: the derived event id makes it a no-op.
    approval = (await intake.runtime.store.read_aggregate("change_request", dates["id"]))[-1]
    platform = Actor(org_id="platform", role=Role.SYSTEM, user="intake:change_requests")
    await apply_approved_change(intake.runtime, Cause(approval, CHANGE_REQUESTS, platform))
    assert len(await _project_events(intake, pid, "ProjectDetailsAmended")) == 2


async def test_concurrent_filings_of_one_kind_leave_exactly_one_pending(intake: Intake) -> None:
    pid = await _project(intake)
    tokens = ["unit-a", "hq"] * 4

    async def file(token: str) -> int:
        r = await intake.client.post(
            f"/v1/projects/{pid}/change-requests", json=CANCEL, headers=auth(intake.tokens[token])
        )
        return r.status_code

    statuses = await asyncio.gather(*(file(token) for token in tokens))
    assert sorted(statuses) == [201] + [409] * 7, statuses
    assert await intake.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 10)
    queue = await _get(intake, f"/v1/projects/{pid}/change-requests")
    assert queue["total"] == 1 and queue["items"][0]["status"] == "pending"


async def test_one_pending_request_per_kind_and_what_a_request_must_name(intake: Intake) -> None:
    pid = await _project(intake)
    first = await _file(intake, pid, CANCEL)
    refused = await _file(intake, pid, CANCEL | {"reason": "再次申请取消"}, status=409)
    assert refused["errors"][0]["field"] == "kind" and first["id"] in refused["detail"]
    # hq filing on the unit's behalf meets the same pending request.
    await _file(intake, pid, CANCEL, token="hq", status=409)
    # Another kind is its own queue.
    await _file(intake, pid, {"kind": "suspend", "reason": "汛期停工"})
    # What each kind needs, and nothing else (422 naming the field).
    bad = [
        ({"kind": "rebaseline_milestone", "reason": "顺延", "plan_id": "p1-y2024", "to_date": "2024-08-01"},
         "milestone_id"),
        ({"kind": "planned_dates", "reason": "顺延"}, "planned_start"),
        ({"kind": "planned_dates", "reason": "顺延", "planned_start": "2026-06-01"}, "planned_completion"),
        ({"kind": "planned_investment", "reason": "调整", "total_investment": "100"}, "annual_planned_investment"),
        ({"kind": "resume", "reason": "复工", "total_investment": "100"}, "total_investment"),
        ({"kind": "cancel", "reason": "x"}, "reason"),
        ({"kind": "cancel", "reason": "取消", "evidence": ["../etc/passwd"]}, "evidence.0"),
    ]  # fmt: skip
    for body, field in bad:
        problem = await _file(intake, pid, body, status=422)
        assert problem["errors"][0]["field"] == field, (body, problem)
    # A resume for a project that is not suspended cannot be filed.
    assert (await _file(intake, pid, {"kind": "resume", "reason": "复工"}, status=409))["errors"][0]["field"] == "kind"


async def test_a_pending_request_the_read_model_already_shows_still_refuses_a_second_of_its_kind(
    intake: Intake,
) -> None:
    pid = await _project(intake)
    first = await _file(intake, pid, CANCEL)
    assert await intake.runtime.runner.wait_for(first["seq"], 10)  # the read model counts the pending request
    refused = await _file(intake, pid, CANCEL | {"reason": "再次申请取消"}, status=409)
    assert refused["pending"] == first["id"]


async def test_a_retried_filing_answers_as_the_first(intake: Intake) -> None:
    pid = await _project(intake)
    key = {"Idempotency-Key": new_key()}
    answers = []
    for _ in range(2):
        r = await intake.client.post(
            f"/v1/projects/{pid}/change-requests", json=CANCEL, headers=auth(intake.tokens["unit-a"], **key)
        )
        assert r.status_code == 201, r.text
        answers.append(r.json())
    assert answers[0] == answers[1]
    assert len(await intake.runtime.store.read_aggregate("change_request", answers[0]["id"])) == 1


async def test_units_see_and_file_only_for_their_own_projects_and_hq_works_the_queue(intake: Intake) -> None:
    mine, theirs = await _project(intake), await _project(intake, unit_id="unit-b")
    await _file(intake, theirs, CANCEL, token="unit-a", status=403)
    await _file(intake, "no-such-project", CANCEL, status=404)
    await _file(intake, mine, CANCEL, token="leader-a", status=403)
    filed = [await _file(intake, mine, CANCEL), await _file(intake, theirs, CANCEL, token="unit-b")]
    seq = filed[-1]["seq"]
    r = await intake.client.get(
        f"/v1/projects/{theirs}/change-requests", params={"min_seq": seq}, headers=auth(intake.tokens["unit-a"])
    )
    assert r.status_code == 403, r.text  # after min_seq: the project is known, only not theirs
    r = await intake.client.get(
        f"/v1/change-requests/{filed[1]['id']}", params={"min_seq": seq}, headers=auth(intake.tokens["unit-a"])
    )
    assert r.status_code == 403
    own = await _get(intake, f"/v1/projects/{mine}/change-requests", "unit-a", min_seq=seq)
    assert [item["id"] for item in own["items"]] == [filed[0]["id"]] and own["total"] == 1
    # The queue is hq's (auditors and the supervision office may read it), oldest first, paged.
    r = await intake.client.get("/v1/change-requests", headers=auth(intake.tokens["unit-a"]))
    assert r.status_code == 403
    queue = await _get(intake, "/v1/change-requests", min_seq=seq)
    assert [item["id"] for item in queue["items"]] == [f["id"] for f in filed] and queue["total"] == 2
    page = await _get(intake, "/v1/change-requests", limit=1, offset=1, min_seq=seq)
    assert [item["id"] for item in page["items"]] == [filed[1]["id"]] and page["total"] == 2
    assert (page["limit"], page["offset"]) == (1, 1)
    decided = await _decide(intake, filed[0]["id"], "reject")
    pending = await _get(intake, "/v1/change-requests", min_seq=decided["seq"])
    assert [item["id"] for item in pending["items"]] == [filed[1]["id"]]
    rejected = await _get(intake, "/v1/change-requests", "auditor", status="rejected", min_seq=decided["seq"])
    assert [item["id"] for item in rejected["items"]] == [filed[0]["id"]]
    await _decide(intake, "cr-nothing-cancel-1", "approve", status=404)


async def test_a_units_direct_cancel_suspend_or_baseline_change_is_refused_pointing_to_the_change_request(
    intake: Intake,
) -> None:
    pid = await _project(intake)
    unit, hq = auth(intake.tokens["unit-a"]), auth(intake.tokens["hq"])
    path = f"/v1/projects/{pid}/change-requests"
    attempts = [
        ("post", f"/v1/projects/{pid}/phase", {"phase": "cancelled", "reason": "不再实施"}, "phase"),
        ("post", f"/v1/projects/{pid}/phase", {"phase": "suspended", "reason": "停工"}, "phase"),
        ("patch", f"/v1/projects/{pid}", {"planned_start": "2024-09-01"}, "planned_start"),
        ("patch", f"/v1/projects/{pid}", {"name": "新名称", "total_investment": "20000"}, "total_investment"),
        ("patch", f"/v1/projects/{pid}", {"annual_planned_investment": "1"}, "annual_planned_investment"),
        ("patch", f"/v1/projects/{pid}", {"planned_completion": "2026-12-31"}, "planned_completion"),
    ]
    for method, url, body, field in attempts:
        r = await intake.client.request(method, url, json=body, headers=unit)
        assert r.status_code == 403, (url, body, r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert path in problem["detail"] and "变更申请" in problem["detail"], problem
        assert problem["errors"][0]["field"] == field and problem["change_requests"] == path
    assert await _project_events(intake, pid, "ProjectPhaseChanged") == []
    assert await _project_events(intake, pid, "ProjectDetailsAmended") == []
    # Everything else stays the unit's own: details, starting work.
    r = await intake.client.patch(f"/v1/projects/{pid}", json={"name": "新名称"}, headers=unit)
    assert r.status_code == 200, r.text
    r = await intake.client.post(f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"},
                                 headers=unit)  # fmt: skip
    assert r.status_code == 200, r.text
    # Another unit's project stays 403 for its own reason; hq keeps its direct powers.
    other = await _project(intake, unit_id="unit-b")
    r = await intake.client.post(f"/v1/projects/{other}/phase", json={"phase": "cancelled", "reason": "x取消"},
                                 headers=unit)  # fmt: skip
    assert r.status_code == 403 and "change_requests" not in r.json()
    r = await intake.client.post(f"/v1/projects/{pid}/phase", json={"phase": "suspended", "reason": "停工"}, headers=hq)
    assert r.status_code == 200, r.text


async def test_an_approval_the_project_has_outgrown_is_refused(intake: Intake) -> None:
    pid = await _project(intake)
    cancel = await _file(intake, pid, CANCEL)
    suspend = await _file(intake, pid, {"kind": "suspend", "reason": "汛期停工"})
    await _decide(intake, cancel["id"], "approve")
    await _applied(intake, pid, "ProjectPhaseChanged")
    refused = await _decide(intake, suspend["id"], "approve", status=409)
    assert refused["errors"][0]["field"] == "kind" and "取消" in refused["detail"]
    await _decide(intake, suspend["id"], "reject")  # it can still be rejected, and leaves the queue
