"""An exemption's evidence as uploaded attachments: checked against the log (exists, same project) after the
request is authorized, and recorded with hash and size in ExemptionRequested."""

from __future__ import annotations

import hashlib

from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body

PDF = b"%PDF-1.7\n" + "气象灾害证明".encode() * 100


async def _upload(platform: Platform, project_id: str) -> str:
    r = await platform.intake.post(
        "/v1/attachments",
        params={"project_id": project_id, "name": "气象灾害证明.pdf"},
        content=PDF,
        headers=auth(platform.tokens["unit-a"], **{"content-type": "application/pdf"}),
    )
    assert r.status_code == 201, r.text
    attachment_id: str = r.json()["id"]
    return attachment_id


async def test_exemption_carries_attachments_of_its_project(platform: Platform) -> None:
    pid, other = await platform.project(), await platform.project()
    unit = auth(platform.tokens["unit-a"])
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    mine, foreign = await _upload(platform, pid), await _upload(platform, other)
    exemptions = f"/v1/plans/{plan_id}/exemptions"
    request = {"scope": "milestone", "milestone_id": "permit", "reason": "暴雨洪涝不可抗力"}

    # A unit that may not write the plan learns nothing about the ids: 403 before any check of them.
    r = await platform.scheduling.post(
        exemptions, json={**request, "attachments": [foreign]}, headers=auth(platform.tokens["unit-b"])
    )
    assert r.status_code == 403, r.text
    for attachments, reason in (([foreign], "不属于该项目"), (["a-nope"], "不存在"), ([mine, mine], "重复")):
        r = await platform.scheduling.post(exemptions, json={**request, "attachments": attachments}, headers=unit)
        assert r.status_code == 422, r.text
        error = r.json()["errors"][0]
        assert error["field"].startswith("attachments") and reason in error["reason"], r.text

    # The upload counts at once, and an attachment is evidence enough without a written note.
    r = await platform.scheduling.post(exemptions, json={**request, "attachments": [mine]}, headers=unit)
    assert r.status_code == 201, r.text
    [requested] = [
        e for e in await platform.scheduling_rt.store.read_aggregate("plan", plan_id)
        if e.envelope.type == "ExemptionRequested"
    ]  # fmt: skip
    assert requested.envelope.payload["attachments"] == [
        {"id": mine, "sha256": hashlib.sha256(PDF).hexdigest(), "size": len(PDF), "name": "气象灾害证明.pdf",
         "content_type": "application/pdf"}
    ]  # fmt: skip
