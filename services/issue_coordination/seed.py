"""Demo issues and tracked meeting decisions, through the public API (after intake's and scheduling's seeds).

    python -m services.issue_coordination.seed --base-url URL --token HQ_TOKEN

Issues are raised by the projects' units, so the seed needs their tokens: `make run` passes every demo token in
TIAODU_DEMO_TOKENS (JSON, as .run/demo.json has them). The demo gets issues at every status (提出、交办、办理中、
办结待确认、已确认, one reopened once), open issues at every level of the ladder (首接责任单位; escalated by hq by
hand, each rung with its reason, to 指挥部办公室、包保市领导、市长: the lights of their projects name them) and a
督办 order in rectification (its project's light and the agenda name it), due after the demo day (2024-09-30) so
that the demo's clock makes them overdue as it moves on, and a city dispatch meeting whose decisions become tracked
items (one without a project). The clock stands at the demo day when this seed runs and an assignment's deadline
must be after it: the escalations are hq's by hand (with reasons), not the ladder's timer on deadlines missed.
Every write carries an Idempotency-Key: a re-run appends nothing twice.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx

from shared.devstack.seed_client import SeedError, check, seed_http_client, seed_main

# Whose demo data this seed builds on (read by the runner, shared/devstack/seeds.py): projects and meetings; and
# notification's contact points, so that the demo's issues are delivered to make run's receiver.
SEED_AFTER: tuple[str, ...] = ("intake", "scheduling", "notification")

PROGRAMME_ID = "demo-2024-sanshi"
TOKENS_ENV = "TIAODU_DEMO_TOKENS"
LEVELS = ("lead_unit", "hq", "leader", "mayor")
# (project index, category, description, help asked, priority, how far it gets, lead unit, deadline)
ISSUES: list[tuple[int, str, str, str, str, str, str, str]] = [
    (0, "land", "园区二期用地指标尚未落实,影响厂房开工", "协调自然资源部门调剂用地指标", "urgent", "raised", "", ""),
    (1, "utilities", "110kV 专用变电站接入方案未批复", "协调供电公司加快接入方案批复", "normal", "assigned",
     "unit-fgw", "2024-10-18T18:00:00+08:00"),
    (3, "approval", "施工许可办理材料多次退回", "请住建部门明确材料要求并开辟绿色通道", "normal", "accepted",
     "unit-zjj", "2024-10-12T18:00:00+08:00"),
    (5, "relocation", "红线内 6 户拆迁未完成", "协调区政府加快征迁", "urgent", "resolved", "unit-macun",
     "2024-10-10T18:00:00+08:00"),
    (7, "funding", "专项债资金拨付滞后", "协调财政部门按进度拨付", "normal", "confirmed", "unit-fgw",
     "2024-10-20T18:00:00+08:00"),
    (10, "environment", "环评批复前置条件不明确", "请生态环境部门提前介入指导", "normal", "reopened", "unit-slj",
     "2024-10-25T18:00:00+08:00"),
]  # fmt: skip
STEPS = ["raised", "assigned", "accepted", "resolved", "confirmed"]
# Issues hq escalates by hand on the demo day (逐级上报), one rung at a time with its reason, so that the demo has an
# open issue at every level of the ladder (the assigned and accepted ones above stay with their lead unit) and
# lights that name them: (project index, category, description, help asked, lead unit, deadline, reasons by rung).
ESCALATED: list[tuple[int, str, str, str, str, str, list[tuple[str, str]]]] = [
    (2, "planning", "厂区规划条件调整涉及多个部门,意见不一", "请指挥部办公室牵头统一规划调整意见", "unit-zjj",
     "2024-10-16T18:00:00+08:00", [("hq", "涉及规划、住建等多个部门,责任单位无法独立协调(演示)")]),
    (9, "financing", "项目贷款授信审批停滞,二期设备款无法支付", "请包保市领导协调银行加快授信", "unit-fgw",
     "2024-10-17T18:00:00+08:00",
     [("hq", "责任单位协调银行未果(演示)"), ("leader", "需包保市领导出面协调金融机构(演示)")]),
    (15, "land", "生态廊道沿线集体土地征收补偿争议未决", "请市政府研究补偿标准", "unit-macun",
     "2024-10-18T18:00:00+08:00",
     [("hq", "跨县区补偿标准不一,责任单位无法协调(演示)"), ("leader", "需包保市领导召集县区协调(演示)"),
      ("mayor", "补偿标准须市政府常务会议研究决定(演示)")]),
]  # fmt: skip


def unit_tokens() -> dict[str, str]:
    raw = os.environ.get(TOKENS_ENV)
    if not raw:
        raise SeedError(f"{TOKENS_ENV} is not set: the seed raises issues as the demo units (make run sets it)")
    units: dict[str, str] = json.loads(raw).get("units", {})
    return units


def _post(client: httpx.Client, path: str, body: dict[str, Any], token: str, key: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    result: dict[str, Any] = check(client.post(path, json=body, headers=headers), path).json()
    return result


def _raise(client: httpx.Client, body: dict[str, Any], token: str, key: str) -> dict[str, Any]:
    """issue_coordination learns of projects from intake's events: a project it has not folded yet is refused
    (422 naming project_id), so the raise is retried until the service knows the project."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    for _ in range(200):
        r = client.post("/v1/issues", json=body, headers=headers)
        if r.status_code != 422 or r.json().get("errors", [{}])[0].get("field") != "project_id":
            result: dict[str, Any] = check(r, "raise").json()
            return result
        time.sleep(0.1)
    raise SeedError(f"issue_coordination does not know project {body['project_id']} after 20 s")


def _issue(client: httpx.Client, hq: str, units: dict[str, str], project: dict[str, Any],
           spec: tuple[int, str, str, str, str, str, str, str]) -> int:  # fmt: skip
    """Raise one issue as the project's unit and take it as far as `spec` says; the last sequence written."""
    _, category, description, help_requested, priority, goal, lead, deadline = spec
    raiser = units[project["unit_id"]]
    key = f"seed-issue-{project['id']}-{category}"
    body = {"project_id": project["id"], "category": category, "description": description,
            "help_requested": help_requested, "priority": priority}  # fmt: skip
    written = _raise(client, body, raiser, key)
    issue_id, seq = written["id"], written["seq"]
    reached = STEPS.index("resolved") if goal == "reopened" else STEPS.index(goal)
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("assignment", {"lead_unit_id": lead, "deadline": deadline, "note": "请按期办结(演示)"}, hq),
        ("acceptance", {"note": "已受理(演示)"}, units.get(lead, "")),
        ("resolution", {"answer": "已协调有关部门解决(演示)"}, units.get(lead, "")),
        ("confirmation", {"rating": 5, "comment": "满意(演示)"}, raiser),
    ]
    for name, step_body, token in steps[:reached]:
        seq = _post(client, f"/v1/issues/{issue_id}/{name}", step_body, token, f"{key}-{name}")["seq"]
    if goal == "reopened":
        body = {"reason": "问题未实际解决,请继续协调(演示)"}
        seq = _post(client, f"/v1/issues/{issue_id}/rejection", body, raiser, f"{key}-rejection")["seq"]
    return int(seq)


def _escalated(client: httpx.Client, hq: str, units: dict[str, str], project: dict[str, Any],
               spec: tuple[int, str, str, str, str, str, list[tuple[str, str]]]) -> int:  # fmt: skip
    """Raised by the project's unit, assigned and accepted, then escalated by hq by hand rung by rung (each with its
    reason; `to_level` names the rung, so a re-run climbs no further)."""
    _, category, description, help_requested, lead, deadline, rungs = spec
    key = f"seed-issue-{project['id']}-{category}"
    body = {"project_id": project["id"], "category": category, "description": description,
            "help_requested": help_requested, "priority": "urgent"}  # fmt: skip
    issue_id = _raise(client, body, units[project["unit_id"]], key)["id"]
    assignment = {"lead_unit_id": lead, "deadline": deadline, "note": "请按期办结(演示)"}
    _post(client, f"/v1/issues/{issue_id}/assignment", assignment, hq, f"{key}-assignment")
    written = _post(client, f"/v1/issues/{issue_id}/acceptance", {"note": "已受理(演示)"}, units[lead],
                    f"{key}-acceptance")  # fmt: skip
    for level, reason in rungs:
        escalation = {"reason": reason, "to_level": level}
        written = _post(client, f"/v1/issues/{issue_id}/escalations", escalation, hq, f"{key}-escalation-{level}")
    return int(written["seq"])


def _meeting(client: httpx.Client, hq: str, projects: list[dict[str, Any]]) -> int:
    """A city dispatch meeting on the demo day with two decisions: one about a project, one for a unit alone."""
    meeting = {"kind": "monthly", "title": "9 月重点项目调度会(演示)", "scheduled_for": "2024-09-30T09:00:00+08:00",
               "programme_id": PROGRAMME_ID}  # fmt: skip
    meeting_id = _post(client, "/v1/meetings", meeting, hq, "seed-issue-meeting")["id"]
    attendees = {"attendees": [{"org_id": "unit-fgw", "name": "市发展和改革委员会(演示)"},
                               {"org_id": "unit-zjj", "name": "市住房和城乡建设局(演示)"}]}  # fmt: skip
    _post(client, f"/v1/meetings/{meeting_id}/attendance", attendees, hq, "seed-issue-meeting-attendance")
    decisions = [
        {"text": "加快推进项目施工许可办理,10 月 15 日前办结", "owner_unit_id": projects[3]["unit_id"],
         "deadline": "2024-10-15", "project_id": projects[3]["id"]},
        {"text": "梳理全市重点项目用地需求清单,报指挥部办公室", "owner_unit_id": "unit-fgw", "deadline": "2024-10-20"},
    ]  # fmt: skip
    seq = 0
    for i, decision in enumerate(decisions):
        seq = _post(client, f"/v1/meetings/{meeting_id}/decisions", decision, hq, f"seed-issue-decision-{i}")["seq"]
    return int(seq)


def _supervision_order(client: httpx.Client, hq: str, units: dict[str, str], project: dict[str, Any]) -> int:
    """A 督办 order by the supervision office on a slow project, its unit's rectification plan accepted: open
    (整改中) and due after the demo day, so that the demo's reminders (催办) come on its cadence."""
    supervision = demo_token("supervision") or hq
    order = {
        "target_unit_id": project["unit_id"],
        "project_id": project["id"],
        "subject": "施工许可办理进展缓慢(演示)",
        "requirement": "10 月 15 日前报送并落实整改方案,按期办结(演示)",
        "deadline": "2024-10-15T18:00:00+08:00",
    }
    order_id = _post(client, "/v1/supervision-orders", order, supervision, "seed-supervision-order")["id"]
    plan = {"text": "明确专人对接住建部门,一周内补齐施工许可材料(演示)"}
    path = f"/v1/supervision-orders/{order_id}"
    _post(client, f"{path}/rectification-plan", plan, units[project["unit_id"]], "seed-supervision-plan")
    review = {"accepted": True, "reason": "同意按方案整改(演示)"}
    return int(
        _post(client, f"{path}/rectification-plan/review", review, supervision, "seed-supervision-review")["seq"]
    )


def demo_token(org: str) -> str | None:
    """A demo organisation's token beside the units' (make run passes them all)."""
    token = json.loads(os.environ.get(TOKENS_ENV) or "{}").get(org)
    return token if isinstance(token, str) else None


def seed(base_url: str, token: str) -> int:
    units = unit_tokens()
    with seed_http_client(base_url, timeout=60) as client:
        hq = {"Authorization": f"Bearer {token}"}
        projects = check(client.get("/v1/projects", params={"limit": 200, "programme_id": PROGRAMME_ID}, headers=hq),
                         "projects").json()["items"]  # fmt: skip
        for spec in ISSUES:
            _issue(client, token, units, projects[spec[0]], spec)
        for escalated in ESCALATED:
            _escalated(client, token, units, projects[escalated[0]], escalated)
        _supervision_order(client, token, units, projects[3])
        last = _meeting(client, token, projects)
        _wait_until_tracked(client, token, last)
        r = check(client.get("/v1/issues", params={"limit": 500}, headers=hq), "issues")
    statuses = sorted({i["status"] for i in r.json()["items"]})
    levels = sorted({i["level"] for i in r.json()["items"] if i["level"]})
    print(f"seeded {r.json()['total']} issues and tracked decisions; statuses: {statuses}; levels: {levels}")
    return 0 if set(STEPS) <= set(statuses) and set(LEVELS) <= set(levels) else 1


def _wait_until_tracked(client: httpx.Client, token: str, seq: int) -> None:
    """The decisions become tracked items through a reaction: wait until both are there."""
    hq = {"Authorization": f"Bearer {token}"}
    for _ in range(300):
        r = check(client.get("/v1/issues", params={"limit": 500}, headers=hq), "issues")
        if sum(1 for i in r.json()["items"] if i["origin"] == "meeting_decision") >= 2:
            return
        time.sleep(0.1)
    raise SeedError(f"the meeting's decisions (up to seq {seq}) are not tracked after 30 s")


def main() -> None:
    seed_main("python -m services.issue_coordination.seed", seed)


if __name__ == "__main__":
    main()
