"""scheduling's HTTP API for lights, rules, monitoring and reports (included by `api.router`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from services.scheduling import handlers, queries_lights
from services.scheduling.as_shown import lights_as_shown
from services.scheduling.bulletin import build_bulletin
from services.scheduling.bulletin_data import PERIOD_PATTERN, BulletinPeriod, bulletin_facts
from services.scheduling.commands import PublishRules, RunMonitoring
from services.scheduling.deps import HQ, ID_PATTERN, ClockDep, ProgrammeId, Today
from services.scheduling.evaluation import rule_set
from services.scheduling.light_times import light_as_known, rules_known_by, what_if_light
from services.scheduling.monitoring import day_id, run_now
from services.scheduling.policies import can_read_project, only_wide_readers, visibility
from services.scheduling.read_model import LIGHTS
from services.scheduling.report_data import ledger_rows
from services.scheduling.report_document import MissingChineseFont, ReportDocument, to_docx, to_pdf
from services.scheduling.reports import render_ledger
from services.scheduling.responses_lights import (
    LightAnswer,
    LightAsOfAnswer,
    LightHistoryEntry,
    LightKnownAnswer,
    LightShownAnswer,
    MonitoringDayAnswer,
    MonitoringRunAnswer,
    ProjectLight,
    RuleVersionAnswer,
    WhatIfAnswer,
)
from services.scheduling.weekly_data import WEEK_PATTERN, ReportWeek, weekly_facts
from services.scheduling.weekly_report import build_weekly_report
from shared.auth import Principal
from shared.catalogue import CATALOGUE
from shared.catalogue.dates import IsoDate
from shared.catalogue.scheduling import Colour, StatusLightChanged
from shared.domain_errors import invalid
from shared.envelope import Role
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem
from shared.project_directory import project_entry
from shared.responses import Written
from shared.time_travel import AsOfDep, events_until, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep

router = APIRouter()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"


def _file_answer(media_types: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route that answers a file: its real content types in the OpenAPI document, not JSON."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": ";".join(media_types.values()), "content": dict.fromkeys(media_types, binary)}}


# -- rules and lights -------------------------------------------------------------------------------------------


@router.get(
    "/rules", tags=["lights"], summary="预警规则版本(可查历史时刻 as_of:该时刻已发布的版本)", dependencies=[MinSeqDep]
)
async def list_rules(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[RuleVersionAnswer]:
    if as_of is not None:
        rules = await rules_known_by(rt.store, as_of.moment)
        as_of.mark(response)
    else:
        async with rt.pool.acquire() as conn:
            rules = await rule_set(conn, rt.schema)
    versions = [v.model_dump() for v in rules.versions]
    return page_of(RuleVersionAnswer, paging.cut(versions), len(versions), paging)


@router.post(
    "/rules", status_code=201, tags=["lights"], summary="发布新的预警规则版本(带生效日期)", dependencies=[HQ],
    response_model=Written,
)  # fmt: skip
async def publish_rules(cmd: PublishRules, rt: RuntimeDep, meta: MetaDep) -> dict[str, Any]:
    return (await handlers.publish_rules(rt, cmd, meta)).body()


async def _visible_project(rt: RuntimeDep, principal: Principal, project_id: str) -> None:
    async with rt.pool.acquire() as conn:
        project = await project_entry(conn, rt.schema, project_id)
    if project is None:
        raise Problem(404, "项目不存在")
    can_read_project(principal, project)


@router.get(
    "/projects/{project_id}/light", tags=["lights"],
    summary="项目红黄绿灯:当前、某日显示的灯色(as_shown_on)、按现在所知重算某日(as_known_for)或某一记录时刻(as_of)",
    description="四种视图,至多给出一个参数:不带参数为当前灯色;as_shown_on=D 为 D 日所显示的灯色(当时记录的灯色、"
    "原因与规则版本,不重算);as_known_for=D 为按现在所知重新计算的 D 日灯色(计入 D 日之后补报、更正的数据,"
    "规则版本取 D 日结束前已发布且在 D 日生效者,之后发布的规则版本不改变结果;不记录);"
    "as_of=时刻 为该记录时刻的灯色(由事件日志折叠)。",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def get_light(
    project_id: str,
    rt: RuntimeDep,
    principal: PrincipalDep,
    day: Today,
    clock: ClockDep,
    response: Response,
    as_of: AsOfDep,
    as_shown_on: Annotated[
        IsoDate | None, Query(description="某日显示的灯色:该日监测所记录的灯色、原因与规则版本(不重新计算)")
    ] = None,
    as_known_for: Annotated[
        IsoDate | None,
        Query(description="按现在所知重算某日灯色:计入之后补报与更正,规则版本取该日结束前已发布者(不记录)"),
    ] = None,
) -> LightShownAnswer | LightKnownAnswer | LightAsOfAnswer | LightAnswer:
    given = [name for name, value in (("as_shown_on", as_shown_on), ("as_known_for", as_known_for),
                                      ("as_of", as_of)) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise invalid(given[1], f"与 {given[0]} 只能给出一个")
    await _visible_project(rt, principal, project_id)
    if as_shown_on is not None:
        return await _light_as_shown(rt, project_id, as_shown_on, day)
    if as_known_for is not None:
        return await light_as_known(rt, project_id, as_known_for, day, clock.now())
    if as_of is not None:
        then = await fold_as_of(rt.store, LIGHTS, project_id, as_of.moment, noun="该项目的灯色", snapshots=rt.snapshots)
        as_of.mark(response)
        shown = queries_lights.light_public(then.state.current) or {}
        return LightAsOfAnswer.model_validate(
            {**shown, "as_of_moment": as_of.moment, "seq": then.position.last_seq, "recorded_at": then.recorded_at}
        )
    async with rt.pool.acquire() as conn:
        light = queries_lights.light_public(await queries_lights.current_light(conn, rt.schema, project_id))
    if light is None:
        raise Problem(404, "该项目尚未评价(每日监测后生成)")
    return LightAnswer.model_validate(light)


async def _light_as_shown(rt: RuntimeDep, project_id: str, shown_on: date, today: date) -> LightShownAnswer:
    if shown_on > today:  # what a future day will show is not known yet
        raise invalid("as_shown_on", f"日期 {shown_on} 晚于平台当日 {today}")
    async with rt.pool.acquire() as conn:
        shown = (await lights_as_shown(conn, rt.schema, shown_on, [project_id])).get(project_id)
    if shown is None:
        raise Problem(404, f"该项目截至 {shown_on} 尚无记录的灯色")
    return LightShownAnswer.model_validate(shown.public(shown_on))


@router.get(
    "/projects/{project_id}/light/history", tags=["lights"],
    summary="项目红黄绿灯变化记录(颜色或原因变化时记录;可查历史时刻 as_of)",
    description="给出 as_of 时为历史视图:截至该时刻已记录的灯色变化(由该项目灯色的事件日志读出);"
    "该时刻尚无记录时为空列表(与尚未评价的项目相同)。",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def get_light_history(
    project_id: str, rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[LightHistoryEntry]:
    await _visible_project(rt, principal, project_id)
    if as_of is not None:
        events, _ = await events_until(rt.store, LIGHTS.aggregate_type, project_id, as_of.moment)
        as_of.mark(response)
        changes = [
            queries_lights.history_item(changed, e.seq, e.envelope.recorded_at)
            for e in events
            if isinstance(changed := CATALOGUE.payload_of(e), StatusLightChanged)
        ]
        return page_of(LightHistoryEntry, paging.cut(changes), len(changes), paging)
    async with rt.pool.acquire() as conn:
        items, total = await queries_lights.light_history(
            conn, rt.schema, project_id, limit=paging.limit, offset=paging.offset
        )
    return page_of(LightHistoryEntry, items, total, paging)


@router.get(
    "/projects/{project_id}/light/what-if", tags=["lights"], summary="假设分析:按指定规则版本与日期计算(不记录)"
)
async def what_if(
    project_id: str,
    rt: RuntimeDep,
    principal: PrincipalDep,
    day: Today,
    clock: ClockDep,
    rule_version: Annotated[int | None, Query(ge=1)] = None,
    as_of: IsoDate | None = None,
) -> WhatIfAnswer:
    await _visible_project(rt, principal, project_id)
    return await what_if_light(rt, project_id, as_of or day, clock.now(), rule_version)


@router.get(
    "/lights", tags=["lights"], summary="红黄绿灯一览(按年度重点项目批次、颜色、类别、责任单位筛选)",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def list_lights(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    programme_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")] = None,
    colour: Colour | None = None,
    category: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    unit_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Page[ProjectLight]:
    own_unit, own_leader = visibility(principal)
    filters: dict[str, Any] = {
        "programme_id": programme_id, "colour": colour.value if colour else None, "category": category,
        "unit_id": own_unit or unit_id, "sponsor_id": own_leader,
    }  # fmt: skip
    async with rt.pool.acquire() as conn:
        items = await queries_lights.programme_lights(
            conn, rt.schema, **filters, limit=paging.limit, offset=paging.offset
        )
        total = await queries_lights.count_lights(conn, rt.schema, **filters)
    return page_of(ProjectLight, items, total, paging)


# -- monitoring -------------------------------------------------------------------------------------------------


@router.post(
    "/monitoring/runs", tags=["monitoring"], dependencies=[HQ],
    summary="立即执行日监测(默认今天;当日例行监测之后再执行则按现有数据重新评价)",
)  # fmt: skip
async def run_monitoring_now(cmd: RunMonitoring, rt: RuntimeDep, meta: MetaDep, day: Today) -> MonitoringRunAnswer:
    # A retry with the same Idempotency-Key re-appends nothing: the run's light ids derive from it.
    run_id = meta.event_id(f"monitoring-run:{cmd.day or day}") or uuid.uuid4()
    result = await run_now(rt, cmd.day or day, meta.context, run_id)
    return MonitoringRunAnswer(
        day=result.day, items_emitted=result.items_emitted, lights_changed=result.lights_changed,
        already_complete=result.already_complete, rerun=result.rerun, seq=await rt.store.last_seq(),
    )  # fmt: skip


@router.get(
    "/monitoring/days/{day}", tags=["monitoring"], summary="某日监测结果(可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻已记录的当日监测项(以事件日志中该日监测的记录为界)。",
)  # fmt: skip
async def monitoring_day(
    day: IsoDate, rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response
) -> MonitoringDayAnswer:
    own_unit, own_leader = visibility(principal)
    up_to = None
    if as_of is not None:
        events, _ = await events_until(rt.store, "monitoring", day_id(day), as_of.moment)
        up_to = events[-1].seq if events else 0
        as_of.mark(response)
    async with rt.pool.acquire() as conn:
        items = await queries_lights.monitoring_items(conn, rt.schema, day, own_unit, own_leader, up_to)
    return MonitoringDayAnswer.model_validate({"day": day, "id": day_id(day), "items": items})


# -- reports ----------------------------------------------------------------------------------------------------


@router.get(
    "/programmes/{programme_id}/weekly-report", tags=["reports"], summary="周调度报告(DOCX 或 PDF,按当日所示灯色)",
    dependencies=[MinSeqDep], response_class=Response,
    responses=_file_answer({DOCX: "周调度报告(Word 文档)", PDF: "周调度报告(PDF)"}),
)  # fmt: skip
async def get_weekly_report(
    programme_id: ProgrammeId,
    rt: RuntimeDep,
    principal: PrincipalDep,
    day: Today,
    week: Annotated[str | None, Query(pattern=WEEK_PATTERN, description="ISO 周,如 2024-W23;缺省为本周")] = None,
    as_of: Annotated[IsoDate | None, Query(description="报告日期(所在周的报告截至该日);与 week 二选一")] = None,
    file_format: Annotated[Literal["docx", "pdf"], Query(alias="format", description="文件格式")] = "docx",
) -> Response:
    """A unit gets the report of its own projects; hq, leaders, supervision and auditors the whole programme."""
    if week is not None and as_of is not None:
        raise invalid("as_of", "week 与 as_of 只能给出一个")
    own_unit = principal.org_id if principal.role == Role.UNIT else None
    if own_unit is None:
        only_wide_readers(principal)
    if as_of is not None and as_of > day:
        raise invalid("as_of", f"日期 {as_of} 晚于平台当日 {day}")
    report_week = ReportWeek.parse(week) if week else ReportWeek.of(as_of or day)
    report_date = as_of or report_week.report_date(day)
    async with rt.pool.acquire() as conn:
        facts = await weekly_facts(conn, rt.schema, programme_id, report_week, report_date, own_unit)
    name = f"weekly-report-{programme_id}-{report_week.name}{'-' + own_unit if own_unit else ''}.{file_format}"
    return _document(build_weekly_report(facts), file_format, name)


@router.get(
    "/programmes/{programme_id}/ledger", tags=["reports"], summary="项目台账(XLSX)", dependencies=[MinSeqDep],
    response_class=Response, responses=_file_answer({XLSX: "项目台账(Excel 工作簿)"}),
)  # fmt: skip
async def get_ledger(
    programme_id: ProgrammeId, rt: RuntimeDep, principal: PrincipalDep, day: Today, as_of: IsoDate | None = None
) -> Response:
    only_wide_readers(principal)
    if as_of is not None and as_of > day:  # the lights a future day will show are not known yet
        raise invalid("as_of", f"日期 {as_of} 晚于平台当日 {day}")
    async with rt.pool.acquire() as conn:
        name, rows = await ledger_rows(conn, rt.schema, programme_id, as_of or day)
    filename = f"ledger-{programme_id}-{(as_of or day).isoformat()}.xlsx"
    return Response(render_ledger(name, as_of or day, rows), media_type=XLSX, headers=_attachment(filename))


@router.get(
    "/reports/supervision-bulletin", tags=["reports"], summary="督查通报(按统计期,DOCX 或 PDF)",
    dependencies=[MinSeqDep], response_class=Response,
    responses=_file_answer({DOCX: "督查通报(Word 文档)", PDF: "督查通报(PDF)"}),
)  # fmt: skip
async def get_supervision_bulletin(
    rt: RuntimeDep,
    principal: PrincipalDep,
    day: Today,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, description="统计期:月份 YYYY-MM 或 ISO 周 YYYY-Www")],
    programme_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次;缺省为统计期所在年度的全部批次")
    ] = None,
    file_format: Annotated[Literal["docx", "pdf"], Query(alias="format", description="文件格式")] = "docx",
) -> Response:
    """Counts of 已完成 / 进展顺利 / 进展缓慢 / 无进展 by category and by 区县, with the lists behind them."""
    only_wide_readers(principal)
    bulletin_period = BulletinPeriod.parse(period)
    as_of = bulletin_period.bulletin_date(day)
    async with rt.pool.acquire() as conn:
        facts = await bulletin_facts(conn, rt.schema, bulletin_period, as_of, programme_id)
    return _document(build_bulletin(facts), file_format, f"supervision-bulletin-{period}.{file_format}")


def _document(document: ReportDocument, file_format: str, name: str) -> Response:
    if file_format == "pdf":
        try:
            return Response(to_pdf(document), media_type=PDF, headers=_attachment(name))
        except MissingChineseFont as e:
            raise Problem(503, f"服务器缺少中文字体,无法生成 PDF:{e}") from e
    return Response(to_docx(document), media_type=DOCX, headers=_attachment(name))


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
