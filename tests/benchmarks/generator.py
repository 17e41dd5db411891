"""History for the benchmark: realistic events written THROUGH the event store (`EventStore.append`), many in flight.

A generated project lives a few years: registered in its programme (one per year), a task force, 开工, then a
progress report every week (cumulative investment derived by intake's own `decide_report_progress`), and per year
a plan drafted and baselined in scheduling with eight milestones completed as the weeks pass them, then 竣工.
Every payload comes from the domain's decisions on the catalogue's models, every chain is a proper one (version,
prev_hash), and each aggregate's events are appended in order while many aggregates are appended concurrently: each
project's story is a generator of appends, and a round takes the next append of every story in flight and writes them
with one `EventStore.append_batch` (each event encoded, checked and published as `append` does it, all acknowledged
before the round's stories go on), so the CPU per event is the append's and the domain's, without a task, a future
and a timer per event.

`python -m tests.benchmarks.generator '<job>'` takes {"nats_url", "user", "password", "first", "count", "weeks",
"inflight"} as JSON, appends the stories of projects first..first+count-1 and prints {"events", "seconds", "cpu_s"}; the
bench runs several such processes side by side (one core is not enough for a million events in two minutes).
"""

from __future__ import annotations

import hashlib
import json
import time as clock
from collections.abc import Generator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import nats
import uvloop
from pydantic import BaseModel

from services.intake.commands import ChangePhase, RegisterProgramme, RegisterProject, ReportProgress
from services.intake.domain import (
    decide_change_phase,
    decide_register_programme,
    decide_register_project,
    evolve_project,
)
from services.intake.progress import decide_report_progress
from services.scheduling.commands import ApproveBaseline, CompleteMilestone, DraftPlan
from services.scheduling.domain import (
    PlanState,
    decide_baseline,
    decide_complete,
    decide_draft,
    evolve_plan,
    plan_id_for,
)
from services.scheduling.seed import MILESTONES
from shared.catalogue.intake import Category, ConstructionType, Phase, TaskForce, TaskForceAssigned, TaskForceMember
from shared.catalogue.scheduling import Milestone
from shared.collector import BATCH, tune_collector
from shared.envelope import Actor, Role
from shared.eventstore import Append, Context, EventStore, Position, StoredEvent
from shared.settings import Settings
from tests.benchmarks.processes import job_argument

FIRST_YEAR = 2021
YEARS = 4  # programmes 2021-2024; a project starts in one of them
DISTRICTS = ["解放区", "山阳区", "中站区", "马村区", "示范区", "修武县", "博爱县", "武陟县", "温县", "沁阳市", "孟州市"]
CATEGORIES = list(Category)
UNITS = 40
LEADERS = 12
CHINA = timezone(timedelta(hours=8))
HQ = Context(actor=Actor(org_id="hq", role=Role.HQ, user="generator"), correlation_id="bench-generator")


def programme_id(year: int) -> str:
    return f"gen-{year}"


def report_id(project_id: str, week: int) -> str:
    """Unique across the log as intake's own (`r` + 20 hex digits), and the same in every run."""
    return "r" + hashlib.sha1(f"tiaodu-bench:{project_id}:{week}".encode()).hexdigest()[:20]


def story_start(n: int) -> date:
    return date(FIRST_YEAR + n % YEARS, 2, 1) + timedelta(days=n % 90)


def plan_years(n: int, weeks: int) -> range:
    """The years project `n` reports in: each has its plan."""
    start = story_start(n)
    return range(start.year, (start + timedelta(weeks=weeks - 1)).year + 1)


def events_per_project(n: int, weeks: int) -> int:
    """Registered, task force, 开工, the weekly reports, per year a plan (drafted, baselined, 8 milestones), 竣工."""
    return 3 + weeks + len(plan_years(n, weeks)) * (2 + len(MILESTONES)) + 1


def projects_for(events: int, first: int, weeks: int) -> int:
    """How many projects from `first` on write at least `events` events."""
    count = total = 0
    while total < events:
        total += events_per_project(first + count, weeks)
        count += 1
    return count


class Writer:
    """One aggregate's appends in order, keeping its position (the chain's head) between appends."""

    def __init__(self, aggregate_type: str, aggregate_id: str, context: Context) -> None:
        self.type, self.id, self.context = aggregate_type, aggregate_id, context
        self.position = Position()
        self.count = 0
        self.done: set[str] = set()  # a plan's completed milestones

    def append(self, payload: BaseModel, occurred: date, context: Context | None = None) -> Step:
        """The next append of this aggregate; the story yields it and is sent the event as stored."""
        return self, Append(self.type, self.id, payload, self.position, context or self.context, None, _at(occurred))

    def stored(self, event: StoredEvent) -> None:
        self.position = self.position.after(event)
        self.count += 1

    async def append_now(self, store: EventStore, payload: BaseModel, occurred: date) -> StoredEvent:
        """One append on its own, awaited (a paced load such as the notification round's, not a batch)."""
        stored = await store.append(self.type, self.id, payload, expected=self.position, context=self.context,
                                    occurred_at=_at(occurred))  # fmt: skip
        self.stored(stored)
        return stored


# A story yields (writer, append) and is sent the stored event; it returns how many events it appended.
Step = tuple[Writer, Append]
Story = Generator[Step, StoredEvent, int]


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), CHINA)


async def register_programmes(store: EventStore) -> int:
    for year in range(FIRST_YEAR, FIRST_YEAR + YEARS):
        cmd = RegisterProgramme(id=programme_id(year), name=f"{year} 年重点项目(压测生成)", year=year)
        payload = decide_register_programme(None, cmd)
        await store.append("programme", programme_id(year), payload, expected=Position(), context=HQ,
                           occurred_at=_at(date(year, 1, 5)))  # fmt: skip
    return YEARS


def _milestones(year: int, start: date, unit: str) -> list[Milestone]:
    first = max(start, date(year, 1, 1))
    span = (date(year, 12, 20) - first).days
    return [
        Milestone(milestone_id=f"m{i + 1}", name=name, planned_date=first + timedelta(days=span * (i + 1) // 9),
                  unit_id=unit)
        for i, name in enumerate(MILESTONES)
    ]  # fmt: skip


def project_story(n: int, weeks: int) -> Story:
    """Every event of generated project `n`, in the order its people would have caused them; returns the count."""
    start = story_start(n)
    year = start.year
    unit, leader = f"unit-{n % UNITS:03d}", f"leader-{n % LEADERS:02d}"
    pid = f"gen-{n:06d}"
    unit_ctx = Context(actor=Actor(org_id=unit, role=Role.UNIT), correlation_id=f"gen-{n}")
    total = Decimal(2000 + (n * 37) % 50000)
    cmd = RegisterProject(
        id=pid, programme_id=programme_id(year), name=f"{DISTRICTS[n % len(DISTRICTS)]}重点项目{n}",
        category=CATEGORIES[n % 3], unit_id=unit, sponsor_leader_id=leader, location=DISTRICTS[n % len(DISTRICTS)],
        construction_content="新建厂房、配套道路及管网,购置生产设备", construction_type=ConstructionType.NEW,
        total_investment=total, annual_planned_investment=total / 2, planned_start=start,
        planned_completion=start + timedelta(weeks=weeks + 4),
    )  # fmt: skip
    project = Writer("project", pid, HQ)
    registered = decide_register_project(None, cmd)
    stored = yield project.append(registered, start - timedelta(days=30))
    state = evolve_project(None, stored.envelope, registered)
    lead = TaskForceMember(name=f"专班组长{n}", org_id=unit, title="组长")
    members = [TaskForceMember(name=f"专班成员{n}-{k}", org_id=unit) for k in range(3)]
    assigned = TaskForceAssigned(task_force=TaskForce(lead=lead, members=members))
    stored = yield project.append(assigned, start - timedelta(days=20))
    state = evolve_project(state, stored.envelope, assigned)
    started = decide_change_phase(state, ChangePhase(project_id=pid, phase=Phase.UNDER_CONSTRUCTION, reason="已开工"))
    stored = yield project.append(started, start)
    state = evolve_project(state, stored.envelope, started)
    plans: dict[int, tuple[Writer, PlanState]] = {}
    weekly = (total / weeks).quantize(Decimal("0.01"))
    for week in range(weeks):
        period_start = start + timedelta(weeks=week)
        period_end = period_start + timedelta(days=6)
        plan_year = period_start.year
        if plan_year not in plans:
            plans[plan_year] = yield from _plan(pid, plan_year, start, unit, period_start)
        writer, plan = plans[plan_year]
        for m in plan.milestones:
            if m.milestone_id not in writer.done and m.planned_date <= period_end:
                yield from _complete(writer, plan, m.milestone_id, m.planned_date, period_end)
        report = ReportProgress(
            project_id=pid, period_start=period_start, period_end=period_end, investment_this_period=weekly,
            image_progress_pct=Decimal(min(100, (week + 1) * 100 // weeks)),
            image_progress_text=f"第{week + 1}周:主体结构施工,完成本周计划",
        )  # fmt: skip
        reported = decide_report_progress(state, report, report_id=report_id(pid, week), milestones={})
        stored = yield project.append(reported, period_end + timedelta(days=1), unit_ctx)
        state = evolve_project(state, stored.envelope, reported)  # the payload as appended: not validated again
    for writer, plan in plans.values():  # milestones left open are completed at the end of the works
        for m in plan.milestones:
            if m.milestone_id not in writer.done:
                yield from _complete(writer, plan, m.milestone_id, m.planned_date, m.planned_date)
    finished = decide_change_phase(state, ChangePhase(project_id=pid, phase=Phase.COMPLETED, reason="竣工验收通过"))
    yield project.append(finished, start + timedelta(weeks=weeks))
    return project.count + sum(writer.count for writer, _ in plans.values())


def _complete(writer: Writer, plan: PlanState, milestone_id: str, done_on: date, today: date) -> Story:
    """A milestone completed. The plan's state stays the baselined one (folding a plan deep-copies it, the
    generator's largest cost after the appends), so the writer remembers which milestones are done."""
    done = CompleteMilestone(plan_id=writer.id, milestone_id=milestone_id, done_on=done_on)
    yield writer.append(decide_complete(plan, done, today), done_on)
    writer.done.add(milestone_id)
    return 1


def _plan(
    pid: str, year: int, start: date, unit: str, on: date
) -> Generator[Step, StoredEvent, tuple[Writer, PlanState]]:
    monthly = [Decimal(100 + m) for m in range(12)]
    draft = DraftPlan(
        project_id=pid, year=year, annual_target_investment=sum(monthly, Decimal(0)),
        yearly_targets=f"{year} 年完成主体工程", monthly_investment=monthly,
        milestones=_milestones(year, start, unit),
    )  # fmt: skip
    writer = Writer("plan", plan_id_for(pid, year), HQ)
    stored = yield writer.append(decide_draft(None, draft), on - timedelta(days=1))
    plan = evolve_plan(None, stored)
    stored = yield writer.append(decide_baseline(plan, ApproveBaseline(plan_id=writer.id, note="同意")), on)
    return writer, evolve_plan(plan, stored)


async def generate(store: EventStore, first: int, count: int, weeks: int, inflight: int) -> int:
    """The stories of projects first..first+count-1, `inflight` of them at a time: each round appends the next event
    of every story in flight in one batch (distinct aggregates: a story waits for its event's acknowledgement before
    its next), and a finished story's place is taken by the next project's."""
    queue = iter(range(first, first + count))
    written = 0
    running: list[tuple[Story, Step]] = []

    def begin() -> None:
        n = next(queue, None)
        if n is not None:
            story = project_story(n, weeks)
            running.append((story, next(story)))

    for _ in range(inflight):
        begin()
    while running:
        outcomes = await store.append_batch([append for _, (_, append) in running])
        batch, running = running, []
        for (story, (writer, _)), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                raise outcome  # the generated history must be whole: any failed append ends the run
            writer.stored(outcome)
            try:
                running.append((story, story.send(outcome)))
            except StopIteration as finished:
                written += finished.value
                begin()
    return written


async def _main(job: dict[str, Any]) -> dict[str, Any]:
    nc = await nats.connect(job["nats_url"], user=job["user"], password=job["password"], name="bench-generator")
    try:
        s = Settings(nats_url=job["nats_url"], database_url="")
        store = EventStore(nc.jetstream(), stream=s.stream, prefix=s.subject_prefix, partitions=s.partitions)
        t0, cpu0 = clock.perf_counter(), clock.process_time()
        events = await generate(store, job["first"], job["count"], job["weeks"], job["inflight"])
        # The CPU it took, so that the bench can say what bounds the rate (each process is busy on a core).
        return {"events": events, "seconds": clock.perf_counter() - t0, "cpu_s": clock.process_time() - cpu0}
    finally:
        await nc.close()


if __name__ == "__main__":
    tune_collector(BATCH)
    print(json.dumps(uvloop.run(_main(job_argument()))))
