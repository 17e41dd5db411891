"""Demo plans and a simulated 2024 for the demo programme, through the public API (after intake's seed).

    python -m services.scheduling.seed --base-url URL --token HQ_TOKEN

Each demo project gets a baselined 2024 plan with milestones; weekly progress reports up to the demo day follow
one of a few paces (on plan, somewhat behind, far behind, silent, not started), and the daily monitoring is run
for each Monday and the demo day, so the demo shows lights of every colour, each with its reasons and history.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

# Whose demo data this seed builds on (read by the runner, shared/devstack/seeds.py): plans need projects.
SEED_AFTER: tuple[str, ...] = ("intake",)

DEMO_DAY = date(2024, 9, 30)
MILESTONES = ["立项备案", "用地预审", "规划许可", "环评批复", "施工许可", "开工", "主体完工", "竣工验收"]
# pace of reported investment against the monthly plan, and whether reporting stops in August
PACES = [(Decimal("1.0"), False), (Decimal("0.95"), False), (Decimal("0.7"), False), (Decimal("0.35"), False),
         (Decimal("1.0"), True), (Decimal("0.0"), False)]  # fmt: skip


class SeedError(RuntimeError):
    pass


def check(r: httpx.Response, what: str, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
    if r.status_code not in ok:
        raise SeedError(f"{what}: {r.status_code} {r.text}")
    return r


def plan_for(project: dict[str, Any], index: int) -> dict[str, Any]:
    annual = Decimal(str(project["annual_planned_investment"]))
    start = date.fromisoformat(str(project["planned_start"]))
    months = [Decimal(0)] * 12
    for m in range(start.month, 13):
        months[m - 1] = (annual / (13 - start.month)).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    steps = len(MILESTONES)
    milestones = []
    for i, name in enumerate(MILESTONES):
        # approvals before the start, works after it, spread to the end of the year
        offset = {5: 0, 6: 150, 7: 270}.get(i, -(5 - i) * 12)
        planned = min(max(start + timedelta(days=offset + index % 3), date(2024, 1, 15)), date(2024, 12, 31))
        milestones.append({"milestone_id": f"m{i + 1}", "name": name, "planned_date": planned.isoformat(),
                           "unit_id": project["unit_id"]})  # fmt: skip
    assert steps == len(milestones)
    return {"project_id": project["id"], "year": 2024, "annual_target_investment": str(annual),
            "yearly_targets": "按年度实施方案推进(演示)", "monthly_investment": [str(m) for m in months],
            "milestones": milestones}  # fmt: skip


def seed(base_url: str, token: str) -> int:
    hq = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=hq, timeout=60) as client:
        projects = check(client.get("/v1/projects", params={"limit": 200, "programme_id": "demo-2024-sanshi"}),
                         "projects").json()["items"]  # fmt: skip
        _wait_until_known(client, len(projects))
        last_seq = 0
        for index, project in enumerate(projects):
            pace, goes_silent = PACES[index % len(PACES)]
            body = plan_for(project, index)
            key = {"Idempotency-Key": f"seed-plan-{project['id']}"}
            r = check(client.post("/v1/plans", json=body, headers=key), "plan")
            plan_id = r.json()["id"]
            check(client.post(f"/v1/plans/{plan_id}/baseline", json={"note": "演示:同意作为基准"},
                              headers={"Idempotency-Key": f"seed-baseline-{plan_id}"}), "baseline")  # fmt: skip
            last_seq = _history(client, project, body, pace, goes_silent)
        client.get("/v1/lights", params={"min_seq": last_seq, "wait_ms": 20000})
        monday = date(2024, 1, 1)
        while monday <= DEMO_DAY:
            check(client.post("/v1/monitoring/runs", json={"day": monday.isoformat()}), f"monitoring {monday}")
            monday += timedelta(days=7)
        r = check(client.post("/v1/monitoring/runs", json={"day": DEMO_DAY.isoformat()}), "monitoring")
        lights = check(client.get("/v1/lights", params={"min_seq": r.json()["seq"], "wait_ms": 20000, "limit": 500}),
                       "lights").json()["items"]  # fmt: skip
    colours = sorted({p["light"]["colour"] for p in lights if p["light"]})
    print(f"seeded {len(projects)} plans; lights on {DEMO_DAY}: {colours}")
    return 0 if colours == ["green", "red", "yellow"] else 1


def _wait_until_known(client: httpx.Client, count: int) -> None:
    """scheduling learns of projects from intake's events: wait until its read model has them all."""
    for _ in range(200):
        known = check(client.get("/v1/lights", params={"programme_id": "demo-2024-sanshi", "limit": 1}), "lights")
        if (total := known.json()["total"]) >= count:
            return
        time.sleep(0.1)
    raise SeedError(f"scheduling knows {total} of {count} demo projects after 20 s")


def _history(client: httpx.Client, project: dict[str, Any], plan: dict[str, Any], pace: Decimal,
             goes_silent: bool) -> int:  # fmt: skip
    """Weekly reports from the planned start to the demo day at the project's pace; phases follow."""
    pid = project["id"]
    start = date.fromisoformat(str(project["planned_start"]))
    if pace == 0:
        return 0  # never started, never reported: a late start
    if project["phase"] == "preliminary":  # a continuing project (续建) is registered 在建 already
        start_work = {"phase": "under_construction", "reason": "按计划开工(演示)"}
        key = {"Idempotency-Key": f"seed-start-{pid}"}
        check(client.post(f"/v1/projects/{pid}/phase", json=start_work, headers=key), "phase")
    monthly = [Decimal(m) for m in plan["monthly_investment"]]
    pending = sorted((m["planned_date"], i, m["milestone_id"]) for i, m in enumerate(plan["milestones"]))
    week = start
    last = 0
    stop = date(2024, 8, 1) if goes_silent else DEMO_DAY
    while week + timedelta(days=6) <= stop:
        end = week + timedelta(days=6)
        invest = (monthly[week.month - 1] * 7 / 30 * pace).quantize(Decimal("0.01"))
        # Nodes due by the end of the week are reported done; far behind, the works (from 开工 on) slip.
        due = [m for m in pending if m[0] <= end.isoformat() and (pace >= Decimal("0.5") or m[1] < 5)]
        pending = [m for m in pending if m not in due]
        done = [{"milestone_id": mid, "done_on": min(planned, end.isoformat())} for planned, _, mid in due]
        r = check(client.post(
            f"/v1/projects/{pid}/progress-reports",
            json={"period_start": week.isoformat(), "period_end": end.isoformat(),
                  "investment_this_period": str(invest), "image_progress_pct": str(min(100, (end - start).days // 3)),
                  "image_progress_text": "按周填报(演示)", "milestones_done": done},
            headers={"Idempotency-Key": f"seed-report-{pid}-{week.isoformat()}"},
        ), "report")  # fmt: skip
        last, report_id = r.json()["seq"], r.json()["report_id"]
        week += timedelta(days=7)
        if week + timedelta(days=6) <= stop:  # hq has reviewed every report but the latest (待审核 in the demo)
            r = check(client.post(f"/v1/projects/{pid}/progress-reports/{report_id}/review",
                                  json={"decision": "accept", "reason": "审核通过(演示)"},
                                  headers={"Idempotency-Key": f"seed-review-{pid}-{report_id}"}), "review")  # fmt: skip
            last = r.json()["seq"]
    return last


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.scheduling.seed")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    try:
        sys.exit(seed(args.base_url, args.token))
    except SeedError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
