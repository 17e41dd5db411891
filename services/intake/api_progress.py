"""intake's HTTP API of the progress ledger: report, correct (更正), review (审核通过 / 退回) and read the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response

from services.intake import progress_handlers, queries
from services.intake.api import ProjectId, project_written
from services.intake.commands import (
    CorrectReport,
    CorrectReportBody,
    ReportProgress,
    ReportProgressBody,
    ReviewReport,
    ReviewReportBody,
)
from services.intake.policies import can_read_project
from services.intake.progress import ReportStatus
from services.intake.progress_as_of import ledger_then
from services.intake.read_model import PROJECTS
from services.intake.responses_progress import ProgressLedgerPage, ReportAnswer, ReportFiledAnswer
from shared.command_bodies import command_from
from shared.commands import CommandMeta
from shared.direct_commands import DirectCommand
from shared.paging import PagingDep
from shared.problems import Problem
from shared.responses import CommandAnswer, Written, documented, written_answer
from shared.runtime import Runtime
from shared.time_travel import AsOfDep, existing_events_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1")
ReportPath = "/projects/{project_id}/progress-reports/{report_id}"


REPORTS_PATH = "/projects/{project_id}/progress-reports"


async def file_report(
    rt: Runtime, path: Mapping[str, str], body: ReportProgressBody, meta: CommandMeta
) -> CommandAnswer:
    """A weekly progress report, whichever route took it (the FastAPI one below, or DIRECT)."""
    cmd = command_from(ReportProgress, body, project_id=path["project_id"])
    outcome, report_id = await progress_handlers.report_progress(rt, cmd, meta)
    return written_answer(outcome, 201, location=f"/v1/projects/{outcome.aggregate_id}", report_id=report_id)


@router.post(
    REPORTS_PATH,
    status_code=201,
    tags=["progress"],
    summary="进度填报",
    description="同一项目的填报周期不得重叠(409 指明重叠的填报);节点按实施方案的节点编号填报,方案没有的编号答 422。"
    "填报先为“待审核”,审核通过后计入累计完成投资。",
    # The hot path (~1,000/s) goes by DIRECT; this route documents it and answers what DIRECT leaves to it.
    response_model=None,
    responses={201: documented(ReportFiledAnswer, "已登记,待审核")},
)
async def report_progress(project_id: ProjectId, body: ReportProgressBody, request: Request, meta: MetaDep) -> Response:
    answer = await file_report(request.app.state.runtime, {"project_id": project_id}, body, meta)
    return answer.response()


# The command issued most, answered without FastAPI's per-request machinery (shared.direct_commands).
DIRECT = [DirectCommand("POST", router.prefix + REPORTS_PATH, ReportProgressBody, file_report)]


@router.post(
    ReportPath + "/corrections",
    status_code=201,
    tags=["progress"],
    summary="更正进度填报(责任单位或指挥部办公室,须说明理由)",
    description="更正为新的事件,原填报保留在历史中;更正后的填报重新等待审核。",
    response_model=Written,
)
async def correct_report(
    project_id: ProjectId, report_id: str, body: CorrectReportBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(CorrectReport, body, project_id=project_id, report_id=report_id)
    return project_written(await progress_handlers.correct_report(rt, cmd, meta), response, 201)


@router.post(
    ReportPath + "/review",
    tags=["progress"],
    summary="审核进度填报(指挥部办公室:审核通过或退回)",
    description="只审核“待审核”的填报;退回须说明理由,责任单位更正后再审核。",
    response_model=Written,
)
async def review_report(
    project_id: ProjectId, report_id: str, body: ReviewReportBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(ReviewReport, body, project_id=project_id, report_id=report_id)
    return project_written(await progress_handlers.review_report(rt, cmd, meta), response)


@router.get(
    "/projects/{project_id}/progress-reports",
    tags=["progress"],
    summary="项目的进度台账(各填报的现行数字、审核状态与更正历史;可查历史时刻 as_of)",
    description="cumulative_investment 累计完成投资只计审核通过的填报(按最近一次审核通过时的数字);"
    "pending_investment 为待审核填报的本期投资之和,单列显示。"
    "给出 as_of 时为历史视图:该时刻已记录的填报、更正与审核(由该项目的事件日志折叠),各项数字与审核状态均为该时刻"
    "的值;该时刻项目尚不存在时返回 404;谁可查看按现行项目信息判断。",
    dependencies=[MinSeqDep],
)
async def list_progress_reports(
    project_id: ProjectId, rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep,
    response: Response,
) -> ProgressLedgerPage:  # fmt: skip
    found = await queries.get_project(rt.pool, rt.schema, project_id)
    if found is None:
        raise Problem(404, "项目不存在")
    project, _ = found
    can_read_project(principal, project)  # who may read is a question of now, also for a historical view
    if as_of is not None:
        events = await existing_events_as_of(rt.store, PROJECTS.aggregate_type, project_id, as_of.moment, noun="项目")
        project, items = ledger_then(events)
        as_of.mark(response)
    else:
        items = await queries.list_progress_reports(rt.pool, rt.schema, project_id)
    pending = [i for i in items if i["status"] == ReportStatus.PENDING]
    # A project has one report a week: the ledger's totals need all of them, so the page is cut in memory.
    return ProgressLedgerPage(
        items=[ReportAnswer.model_validate(item) for item in paging.cut(items)],
        total=len(items),
        **paging.echo(),
        cumulative_investment=project.cumulative_investment,
        pending_reports=len(pending),
        pending_investment=sum((Decimal(i["investment_this_period"]) for i in pending), Decimal(0)),
    )
