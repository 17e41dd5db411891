"""intake's use cases on the progress ledger: report (进度填报), correct (更正) and review (审核通过 / 退回).

Like every handler: authorise, look up what the decision cannot see (the plans' milestones, which report a refused
period overlaps), and hand a pure decision from progress.py to `shared.commands`. A report decides on the project's
state alone, so it stays the lean command issue 7 measures: the overlap is checked against the spans in that state
(usually cached in memory) and the ledger is read only to name the report a refused period overlaps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.intake import policies, progress, queries
from services.intake.commands import CorrectReport, ReportedMilestone, ReportProgress, ReviewReport
from services.intake.domain import ProjectState, must_exist
from services.intake.ledger import PLAN_MILESTONES_NOTICE, ProjectReportSpec
from services.intake.progress import PeriodOverlap, PlanMilestone, ProjectReport
from services.intake.read_model import PROJECTS
from shared.attachment_refs import Evidence
from shared.commands import CommandMeta, Decide, Outcome, execute, handle
from shared.domain_errors import Conflict
from shared.runtime import Runtime

# How long a lookup waits for intake's read model to reach the end of the log (only on a miss or a refusal).
CATCH_UP_S = 2.0


async def report_progress(rt: Runtime, cmd: ReportProgress, meta: CommandMeta) -> tuple[Outcome, str]:
    """The outcome and the new report's id (derived from the Idempotency-Key when there is one)."""
    report_id = meta.new_id("r", f"report:{cmd.project_id}")
    milestones = await _plan_milestones(rt, cmd.project_id, cmd.milestones_done)
    evidence = Evidence(rt.store, "attachments", cmd.attachments)

    async def authorize(state: ProjectState | None) -> None:
        _may_write(meta, state)
        await evidence.resolve(cmd.project_id)  # after the permission check: no probing other projects' ids

    try:
        outcome = await handle(
            rt,
            PROJECTS,
            cmd.project_id,
            lambda s: progress.decide_report_progress(
                s, cmd, report_id=report_id, milestones=milestones, attachments=evidence.refs
            ),
            meta,
            scope=f"progress:{cmd.project_id}",
            authorize=authorize,
        )
    except PeriodOverlap:
        raise await _overlap_named(rt, cmd) from None
    return outcome, report_id


async def correct_report(rt: Runtime, cmd: CorrectReport, meta: CommandMeta) -> Outcome:
    milestones = await _plan_milestones(rt, cmd.project_id, cmd.milestones_done)

    def authorize(state: ProjectReport | None) -> None:
        _may_write(meta, None if state is None else state.project)

    return await _on_report(
        rt, cmd.project_id, cmd.report_id, lambda s: progress.decide_correct_report(s, cmd, milestones=milestones),
        meta, scope=f"correct:{cmd.project_id}:{cmd.report_id}", authorize=authorize,
    )  # fmt: skip


async def review_report(rt: Runtime, cmd: ReviewReport, meta: CommandMeta) -> Outcome:
    policies.can_review_reports(meta.principal)
    return await _on_report(
        rt, cmd.project_id, cmd.report_id, lambda s: progress.decide_review_report(s, cmd), meta,
        scope=f"review:{cmd.project_id}:{cmd.report_id}",
    )  # fmt: skip


def _may_write(meta: CommandMeta, project: ProjectState | None) -> None:
    """hq or the project's responsible unit (a project that does not exist is 404, not 403)."""
    policies.can_write_project(meta.principal, must_exist(project))


async def _on_report(
    rt: Runtime,
    project_id: str,
    report_id: str,
    decide: Decide[ProjectReport],
    meta: CommandMeta,
    *,
    scope: str,
    authorize: Callable[[ProjectReport | None], None] | None = None,
) -> Outcome:
    """A command on one report of a project: loads the project with that report (ledger.ProjectReportSpec) past the
    aggregate cache, whose entries hold the project alone; the cached project is dropped, as it is now behind."""
    try:
        return await execute(
            pool=rt.pool, store=rt.store, schema=rt.schema, spec=ProjectReportSpec(report_id), aggregate_id=project_id,
            decide=decide, context=meta.context, if_match=meta.if_match, event_id=meta.event_id(scope),
            authorize=authorize,
        )  # fmt: skip
    finally:
        rt.cache.drop(PROJECTS.aggregate_type, project_id)


async def _plan_milestones(rt: Runtime, project_id: str, reported: Sequence[ReportedMilestone]) -> PlanMilestones:
    """The milestones of the project's plans, when the command names any."""
    if not reported:
        return {}
    return await plan_milestones_finding(rt, project_id, lambda known: all(m.milestone_id in known for m in reported))


PlanMilestones = dict[str, list[PlanMilestone]]


async def plan_milestones_finding(
    rt: Runtime, project_id: str, found: Callable[[PlanMilestones], bool]
) -> PlanMilestones:
    """The milestones of the project's plans by id. When they do not show what the command names (`found`), the miss
    may be a plan drafted a moment ago that intake's projection has not folded yet: then it waits for the projection
    to reach the log's end, once.

    Kept in memory (`rt.noticed`) until the projection changes the project's plans: a command that finds what it
    names there needs no database round trip; a miss is read again, as is anything a plan changed."""
    cached: PlanMilestones | None = rt.noticed.get(PLAN_MILESTONES_NOTICE, project_id)
    if cached is not None and found(cached):
        return cached
    known = await _read_plan_milestones(rt, project_id)
    if found(known):
        return known
    await rt.runner.wait_for(await rt.store.last_seq(), CATCH_UP_S)
    return await _read_plan_milestones(rt, project_id)


async def _read_plan_milestones(rt: Runtime, project_id: str) -> PlanMilestones:
    read_at = rt.noticed.generation()
    known = await queries.plan_milestones(rt.pool, rt.schema, project_id)
    rt.noticed.put(PLAN_MILESTONES_NOTICE, project_id, known, read_at)
    return known


async def _overlap_named(rt: Runtime, cmd: ReportProgress) -> Conflict:
    """409 naming the report the period overlaps, from the ledger once it has caught up with the log."""
    await rt.runner.wait_for(await rt.store.last_seq(), CATCH_UP_S)
    found = await queries.overlapping_report(rt.pool, rt.schema, cmd.project_id, cmd.period_start, cmd.period_end)
    if found is None:  # the ledger is still behind: the refusal stands, without the name
        return Conflict("填报周期与已填报的周期重叠", field="period_start", reason="与已填报的周期重叠")
    return Conflict(
        f"填报周期 {cmd.period_start}~{cmd.period_end} 与填报 {found} 的周期重叠",
        field="period_start",
        reason=f"与填报 {found} 的周期重叠",
        overlaps_report_id=found,
    )
