"""scheduling's HTTP API for dispatch meetings (调度会), included by `api.router`: thin routes; who sees a meeting
is `policies.can_read_meeting` (one meeting) and `queries_meetings.list_meetings` (the list)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from services.scheduling import handlers, queries_meetings
from services.scheduling.commands import (
    RecordAttendance,
    RecordAttendanceBody,
    RecordDecision,
    RecordDecisionBody,
    RecordMinutes,
    RecordMinutesBody,
    ScheduleMeeting,
)
from services.scheduling.deps import CONVENERS, ID_PATTERN, Today
from services.scheduling.domain_meetings import MeetingState
from services.scheduling.policies import can_read_meeting, meeting_visibility
from services.scheduling.read_model import MEETINGS
from services.scheduling.responses import AgendaAnswer, DecisionRecordedAnswer, MeetingAnswer, MeetingSummary
from shared.auth import Principal
from shared.catalogue.dates import IsoDate
from shared.domain_errors import invalid
from shared.envelope import Role
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem
from shared.responses import Written
from shared.runtime import Runtime
from shared.time_travel import AsOf, AsOfDep, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter()


@router.post("/meetings", status_code=201, tags=["meetings"], summary="安排调度会(议程由当前状态生成)",
             dependencies=[CONVENERS], response_model=Written)  # fmt: skip
async def schedule_meeting(
    cmd: ScheduleMeeting, rt: RuntimeDep, meta: MetaDep, response: Response, day: Today
) -> dict[str, Any]:
    return written(await handlers.schedule_meeting(rt, cmd, meta, today=day), response, 201)


@router.get(
    "/meetings", tags=["meetings"], summary="调度会列表(按日期、年度重点项目批次筛选;只列出本机构可见的会议)",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def list_meetings(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    programme_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")] = None,
    date_from: Annotated[IsoDate | None, Query(description="会议日期不早于(含,北京时间)")] = None,
    date_to: Annotated[IsoDate | None, Query(description="会议日期不晚于(含,北京时间)")] = None,
) -> Page[MeetingSummary]:
    if date_from is not None and date_to is not None and date_to < date_from:
        raise invalid("query.date_to", "不能早于 date_from")
    unit, leader = meeting_visibility(principal)
    async with rt.pool.acquire() as conn:
        items, total = await queries_meetings.list_meetings(
            conn, rt.schema, programme_id=programme_id, date_from=date_from, date_to=date_to, unit_id=unit,
            leader_id=leader, limit=paging.limit, offset=paging.offset,
        )  # fmt: skip
    return page_of(MeetingSummary, items, total, paging)


async def visible_meeting(rt: Runtime, principal: Principal, meeting_id: str) -> tuple[MeetingState, int]:
    async with rt.pool.acquire() as conn:
        state, position = await MEETINGS.load_row(conn, rt.schema, meeting_id)
        if state is None:
            raise Problem(404, "调度会不存在")
        sponsored: set[str] = set()
        if principal.role == Role.LEADER:
            sponsored = await queries_meetings.sponsored_projects(conn, rt.schema, state, principal.org_id)
    can_read_meeting(principal, state, sponsored)
    return state, position.version


AS_OF_MEETING = "给出 as_of 时为历史视图:该时刻记录的调度会(由事件日志折叠);谁可查看按现行会议信息判断。"


async def meeting_then(
    rt: Runtime, principal: Principal, meeting_id: str, as_of: AsOf | None, response: Response
) -> tuple[MeetingState, int]:
    """The meeting now, or as recorded at `as_of` (who may see it is decided on the meeting now)."""
    state, version = await visible_meeting(rt, principal, meeting_id)
    if as_of is None:
        return state, version
    then = await fold_as_of(rt.store, MEETINGS, meeting_id, as_of.moment, noun="调度会", snapshots=rt.snapshots)
    as_of.mark(response)
    return then.state, then.position.version


@router.get("/meetings/{meeting_id}", tags=["meetings"], summary="调度会详情(议程、参会、纪要、议定事项)",
            description=AS_OF_MEETING, dependencies=[MinSeqDep])  # fmt: skip
async def get_meeting(
    meeting_id: str, rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response
) -> MeetingAnswer:
    state, version = await meeting_then(rt, principal, meeting_id, as_of, response)
    return MeetingAnswer(**dict(state), version=version)


@router.get("/meetings/{meeting_id}/agenda", tags=["meetings"], summary="调度会议程(安排会议时按当日状态生成)",
            description=AS_OF_MEETING, dependencies=[MinSeqDep])  # fmt: skip
async def get_agenda(
    meeting_id: str, rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response
) -> AgendaAnswer:
    state, _ = await meeting_then(rt, principal, meeting_id, as_of, response)
    return AgendaAnswer(meeting_id=meeting_id, as_of=state.agenda_as_of, items=state.agenda)


@router.post("/meetings/{meeting_id}/attendance", tags=["meetings"], summary="记录参会情况", dependencies=[CONVENERS],
             response_model=Written)  # fmt: skip
async def record_attendance(
    meeting_id: str, body: RecordAttendanceBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = RecordAttendance(meeting_id=meeting_id, **dict(body))
    return written(await handlers.record_attendance(rt, cmd, meta), response)


@router.post("/meetings/{meeting_id}/minutes", tags=["meetings"], summary="记录会议纪要", dependencies=[CONVENERS],
             response_model=Written)  # fmt: skip
async def record_minutes(
    meeting_id: str, body: RecordMinutesBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = RecordMinutes(meeting_id=meeting_id, **dict(body))
    return written(await handlers.record_minutes(rt, cmd, meta), response)


@router.post("/meetings/{meeting_id}/decisions", status_code=201, tags=["meetings"],
             summary="记录议定事项(只能交办给参会单位或所涉项目的责任单位)", dependencies=[CONVENERS],
             response_model=DecisionRecordedAnswer)  # fmt: skip
async def record_decision(
    meeting_id: str, body: RecordDecisionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    outcome, decision_id = await handlers.record_decision(rt, RecordDecision(meeting_id=meeting_id, **dict(body)), meta)
    return written(outcome, response, 201, decision_id=decision_id)
