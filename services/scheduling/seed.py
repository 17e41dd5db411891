"""Demo plans and a simulated 2024 for the demo programme, through the public API (after intake's seed).

    python -m services.scheduling.seed --base-url URL --token HQ_TOKEN

Each demo project gets a baselined 2024 plan with milestones; weekly progress reports follow one of a few paces (on
plan, somewhat behind, far behind, silent from August, not started), so the demo shows lights of every colour,
each with its reasons and history.

The history is lived on the demo clock (docs/adr/0016, 0017), not posted all at once on the demo's day: every event
is recorded at the platform's time, so a report posted on 30 September would be known only from then. The clock
stands at the start of the history when the seed begins (`make run` starts it there); the seed moves it forward
(POST /v1/clock/advance) a day at a time, to 10:00, after the day's 06:00 monitoring has run on its timer, as it
would have; on Fridays the units file that week's reports then (on time for the 17:00 deadline), and hq reviews
the previous ones. The seed ends with the platform at 2024-09-30 05:00, before that day's 06:00 run, and records
the year-end evaluation of 2024 as of that moment (GET /v1/evaluations?programme_id=demo-2024-sanshi&year=2024).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.devstack.seed_client import SeedError, check, seed_http_client, seed_main

# Whose demo data this seed builds on (read by the runner, shared/devstack/seeds.py): plans need projects.
SEED_AFTER: tuple[str, ...] = ("intake",)

CHINA = ZoneInfo("Asia/Shanghai")
HISTORY_START = date(2024, 1, 1)  # where make run starts the demo clock (shared/devstack/demo_clock.py)
DEMO_DAY = date(2024, 9, 30)
DEMO_MOMENT = datetime(2024, 9, 30, 5, tzinfo=CHINA)  # where the platform stands after the seed
FILING_HOUR = 10  # the units file on Friday morning, before the 17:00 deadline
FRIDAY = 4
FILERS = 8  # units filing at once
MAX_ADVANCE = timedelta(days=7)  # what POST /v1/clock/advance takes at once
MILESTONES = ["立项备案", "用地预审", "规划许可", "环评批复", "施工许可", "开工", "主体完工", "竣工验收"]
# pace of reported investment against the monthly plan, and whether reporting stops in August
PACES = [(Decimal("1.0"), False), (Decimal("0.95"), False), (Decimal("0.7"), False), (Decimal("0.35"), False),
         (Decimal("1.0"), True), (Decimal("0.0"), False)]  # fmt: skip
SILENT_FROM = date(2024, 8, 1)


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
    began = time.monotonic()
    with seed_http_client(base_url, headers=hq, timeout=60) as client:
        projects = check(client.get("/v1/projects", params={"limit": 200, "programme_id": "demo-2024-sanshi"}),
                         "projects").json()["items"]  # fmt: skip
        _wait_until_known(client, len(projects))
        stories = []
        for index, project in enumerate(projects):
            pace, goes_silent = PACES[index % len(PACES)]
            body = plan_for(project, index)
            key = {"Idempotency-Key": f"seed-plan-{project['id']}"}
            r = check(client.post("/v1/plans", json=body, headers=key), "plan")
            plan_id = r.json()["id"]
            check(client.post(f"/v1/plans/{plan_id}/baseline", json={"note": "演示:同意作为基准"},
                              headers={"Idempotency-Key": f"seed-baseline-{plan_id}"}), "baseline")  # fmt: skip
            stories.append(Story(project, body, pace, goes_silent))
        today = date.fromisoformat(_clock(client)["date"])
        if today > HISTORY_START:
            raise SeedError(f"the demo clock stands on {today}, after the start of the simulated history "
                            f"({HISTORY_START}): start make run with TIAODU_CLOCK_START unset or earlier")  # fmt: skip
        day = today + timedelta(days=1)
        while day < DEMO_DAY:
            # A day at a time, so that each day's 06:00 run is recorded on its own day (as shown on that day).
            _advance_to(client, datetime(day.year, day.month, day.day, FILING_HOUR, tzinfo=CHINA))
            if day.weekday() == FRIDAY:  # the units file side by side (each its own project's reports, in order)
                with ThreadPoolExecutor(max_workers=FILERS) as filers:
                    list(filers.map(Story.file_week, stories, repeat(client), repeat(day)))
            day += timedelta(days=1)
        _advance_to(client, DEMO_MOMENT)
        r = check(client.post("/v1/monitoring/runs", json={"day": DEMO_DAY.isoformat()}), "monitoring")
        lights = check(client.get("/v1/lights", params={"min_seq": r.json()["seq"], "wait_ms": 20000, "limit": 500}),
                       "lights").json()["items"]  # fmt: skip
        # The year-end evaluation (综合成效考评) of 2024 so far, as of the demo's day: recorded once (keyed).
        check(client.post("/v1/evaluations", json={"programme_id": "demo-2024-sanshi"},
                          headers={"Idempotency-Key": "seed-year-end-2024"}), "evaluation")  # fmt: skip
    colours = sorted({p["light"]["colour"] for p in lights if p["light"]})
    took = time.monotonic() - began
    print(f"seeded {len(projects)} plans and their history in {took:.0f} s; lights on {DEMO_DAY}: {colours}")
    return 0 if colours == ["green", "red", "yellow"] else 1


def _wait_until_known(client: httpx.Client, count: int) -> None:
    """scheduling learns of projects from intake's events: wait until its read model has them all."""
    for _ in range(200):
        known = check(client.get("/v1/lights", params={"programme_id": "demo-2024-sanshi", "limit": 1}), "lights")
        if (total := known.json()["total"]) >= count:
            return
        time.sleep(0.1)
    raise SeedError(f"scheduling knows {total} of {count} demo projects after 20 s")


# -- the demo clock ----------------------------------------------------------------------------------------------


def _clock(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = check(client.get("/v1/clock"), "clock").json()
    return body


def _advance_to(client: httpx.Client, moment: datetime) -> None:
    """Move the platform clock to `moment` (whole hours, at most 7 days a step; the real time runs on meanwhile),
    then wait until the daily monitoring's timer has run every day that passed."""
    while (left := moment - datetime.fromisoformat(_clock(client)["now"])) > timedelta(0):
        step = min(MAX_ADVANCE, timedelta(hours=math.ceil(left / timedelta(hours=1))))
        days, hours = step.days, step.seconds // 3600
        check(client.post("/v1/clock/advance", json={"days": days, "hours": hours}), "clock advance")
        _wait_for_monitoring(client, date.fromisoformat(_clock(client)["date"]))


def _wait_for_monitoring(client: httpx.Client, day: date) -> None:
    """The timer runs the days that passed oldest first: the last one complete means all are."""
    if datetime.fromisoformat(_clock(client)["china_time"]).hour < 6:
        day -= timedelta(days=1)  # today's 06:00 run is still ahead
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = check(client.get(f"/v1/monitoring/days/{day.isoformat()}"), "monitoring day").json()["items"]
        if any(item["kind"] == "MonitoringCompleted" for item in items):
            return
        time.sleep(0.05)
    raise SeedError(f"the daily monitoring of {day} did not run within 120 s of the clock's advance")


# -- one project's simulated year --------------------------------------------------------------------------------


@dataclass
class Story:
    """A project's weekly reports at its pace, from its planned start: the period up to each Friday, filed then."""

    project: dict[str, Any]
    plan: dict[str, Any]
    pace: Decimal
    goes_silent: bool
    reported_to: date | None = None
    last_report: str | None = None
    pending: list[tuple[str, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        milestones = self.plan["milestones"]
        self.pending = sorted((m["planned_date"], i, m["milestone_id"]) for i, m in enumerate(milestones))

    def file_week(self, client: httpx.Client, friday: date) -> None:
        pid = self.project["id"]
        start = date.fromisoformat(str(self.project["planned_start"]))
        if self.pace == 0 or friday < start or (self.goes_silent and friday >= SILENT_FROM):
            return  # never started, not yet started, or gone silent
        if self.reported_to is None and self.project["phase"] == "preliminary":  # 续建 is registered 在建 already
            start_work = {"phase": "under_construction", "reason": "按计划开工(演示)"}
            key = {"Idempotency-Key": f"seed-start-{pid}"}
            check(client.post(f"/v1/projects/{pid}/phase", json=start_work, headers=key), "phase")
        begin = start if self.reported_to is None else self.reported_to + timedelta(days=1)
        monthly = Decimal(self.plan["monthly_investment"][friday.month - 1])
        invest = (monthly * ((friday - begin).days + 1) / 30 * self.pace).quantize(Decimal("0.01"))
        # Nodes due by the end of the period are reported done; far behind, the works (from 开工 on) slip.
        due = [m for m in self.pending if m[0] <= friday.isoformat() and (self.pace >= Decimal("0.5") or m[1] < 5)]
        self.pending = [m for m in self.pending if m not in due]
        done = [{"milestone_id": mid, "done_on": min(planned, friday.isoformat())} for planned, _, mid in due]
        image = str(min(100, (friday - start).days // 3))
        r = check(client.post(
            f"/v1/projects/{pid}/progress-reports",
            json={"period_start": begin.isoformat(), "period_end": friday.isoformat(),
                  "investment_this_period": str(invest), "image_progress_pct": image,
                  "image_progress_text": "按周填报(演示)", "milestones_done": done},
            headers={"Idempotency-Key": f"seed-report-{pid}-{friday.isoformat()}"},
        ), "report")  # fmt: skip
        if self.last_report is not None:  # hq has reviewed every report but the latest (待审核 in the demo)
            key = {"Idempotency-Key": f"seed-review-{pid}-{self.last_report}"}
            review = {"decision": "accept", "reason": "审核通过(演示)"}
            path = f"/v1/projects/{pid}/progress-reports/{self.last_report}/review"
            check(client.post(path, json=review, headers=key), "review")
        self.reported_to, self.last_report = friday, r.json()["report_id"]


def main() -> None:
    seed_main("python -m services.scheduling.seed", seed)


if __name__ == "__main__":
    main()
