"""issue_coordination's HTTP API: raising, reading and listing issues; each action on an issue is a sub-resource
named after it (api_actions.py). Paths are fixed by issue 9 so that unit clients can rely on them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from services.issue_coordination import handlers, policies, queries
from services.issue_coordination.commands import RaiseIssue
from services.issue_coordination.domain import IssueState, Status
from services.issue_coordination.read_model import ISSUES, TIMELINE
from services.issue_coordination.views import EVENT_SUMMARIES, IssueView, TimelineEntry, Written, issue_view
from shared.auth import Principal
from shared.catalogue.issue_coordination import IssueCategory, IssueLevel
from shared.commands import Outcome
from shared.event_ledger import timeline_rows
from shared.paging import Page, Paging, PagingDep
from shared.problems import Problem
from shared.project_directory import project_entry
from shared.runtime import Runtime
from shared.time_travel import AsOf, AsOfDep, existing_events_as_of, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["issues"])

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # an id in a query is checked at the edge, never sent to the database as is
IssueId = Annotated[str, Path(description="问题编号")]


def issue_written(outcome: Outcome, response: Response, status: int = 200) -> Written:
    return Written(**written(outcome, response, status, location=f"/v1/issues/{outcome.aggregate_id}"))


@router.post("/issues", status_code=201, summary="提出问题(项目责任单位或专班成员单位;可附现场照片等附件)")
async def raise_issue(cmd: RaiseIssue, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return issue_written(await handlers.raise_issue(rt, cmd, meta), response, 201)


@router.get("/issues", summary="问题列表(按项目、承办单位、状态、类别、层级、是否超期筛选)", dependencies=[MinSeqDep])
async def list_issues(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    project_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="项目编号")] = None,
    unit_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="承办单位(首接负责或协办)编号")] = None,
    status: Annotated[Status | None, Query(description="状态")] = None,
    category: Annotated[IssueCategory | None, Query(description="问题类别")] = None,
    level: Annotated[IssueLevel | None, Query(description="当前层级")] = None,
    overdue: Annotated[bool | None, Query(description="true 只列超期的,false 只列未超期的")] = None,
) -> Page[IssueView]:
    filters = queries.IssueFilters(
        project_id=project_id, unit_id=unit_id, status=status and status.value, category=category and category.value,
        level=level and level.value, overdue=overdue,
    )  # fmt: skip
    now = rt.clock.now()
    found, total = await queries.list_issues(
        rt.pool, rt.schema, filters, policies.visibility(principal), now, limit=paging.limit, offset=paging.offset
    )
    return Page(items=[issue_view(state, version, now) for state, version in found], total=total, **paging.echo())


async def readable_issue(rt: Runtime, principal: Principal, issue_id: str) -> tuple[IssueState, int]:
    found = await queries.get_issue(rt.pool, rt.schema, issue_id)
    if found is None:
        raise Problem(404, "问题不存在")
    async with rt.pool.acquire() as conn:
        project = None if found[0].project_id is None else await project_entry(conn, rt.schema, found[0].project_id)
    policies.can_read(principal, found[0], project)
    return found


@router.get(
    "/issues/{issue_id}", summary="问题详情(状态、承办单位、期限、层级;可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻记录的问题(由事件日志折叠),是否超期按该时刻判断;"
    "谁可查看按现行问题信息判断。",
)  # fmt: skip
async def get_issue(
    issue_id: IssueId, rt: RuntimeDep, principal: PrincipalDep, response: Response, as_of: AsOfDep
) -> IssueView:
    state, version = await readable_issue(rt, principal, issue_id)
    now = rt.clock.now()
    if as_of is not None:
        then = await fold_as_of(rt.store, ISSUES, issue_id, as_of.moment, noun="问题", snapshots=rt.snapshots)
        state, version, now = then.state, then.position.version, as_of.moment
        as_of.mark(response)
    response.headers["ETag"] = f'"{version}"'
    return issue_view(state, version, now)


TIMELINE_AS_OF = (
    "给出 as_of 时为历史视图:截至该时刻已记录的步骤(由事件日志读出);该时刻{noun}尚不存在时返回 404;"
    "谁可查看按现行{noun}信息判断。"
)


@router.get("/issues/{issue_id}/timeline", summary="问题的办理过程(每一步的时间、机构与内容;可查历史时刻 as_of)",
            description=TIMELINE_AS_OF.format(noun="问题"), dependencies=[MinSeqDep])  # fmt: skip
async def issue_timeline(
    issue_id: IssueId, rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[TimelineEntry]:
    await readable_issue(rt, principal, issue_id)
    if as_of is not None:
        rows = await timeline_as_of(rt, ISSUES.aggregate_type, issue_id, as_of, response, noun="问题")
        return timeline_page_of(payload_parsed(paging.cut(rows)), len(rows), paging, EVENT_SUMMARIES)
    return await timeline_page(rt, TIMELINE.table, "issue_id", issue_id, paging, EVENT_SUMMARIES)


async def timeline_as_of(
    rt: Runtime, aggregate_type: str, aggregate_id: str, as_of: AsOf, response: Response, *, noun: str
) -> list[dict[str, Any]]:
    """An issue's or a 督办 order's timeline rows as of a moment: its events recorded by then, from the log (404
    when it did not exist yet), shaped as the ledger's rows (the payload as JSON text)."""
    events = await existing_events_as_of(rt.store, aggregate_type, aggregate_id, as_of.moment, noun=noun)
    as_of.mark(response)
    return timeline_rows(events)


def timeline_page_of(
    rows: list[dict[str, Any]], total: int, paging: Paging, summaries: Mapping[str, str]
) -> Page[TimelineEntry]:
    items = [TimelineEntry(**row, summary=summaries.get(row["type"], row["type"])) for row in rows]
    return Page(items=items, total=total, **paging.echo())


def payload_parsed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


async def timeline_page(
    rt: Runtime, table: str, id_column: str, aggregate_id: str, paging: Paging, summaries: Mapping[str, str]
) -> Page[TimelineEntry]:
    """A page of an issue's or a 督办 order's timeline (`table`, keyed by `id_column`), each event with its Chinese
    summary."""
    rows, total = await queries.timeline(rt.pool, rt.schema, table, id_column, aggregate_id,
                                         limit=paging.limit, offset=paging.offset)  # fmt: skip
    return timeline_page_of(rows, total, paging, summaries)
