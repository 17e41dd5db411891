"""scheduling's HTTP API for the year-end evaluation (综合成效考评): rule versions, recorded runs, a unit's parts with
the events behind them, and the what-if (included by `api.router`).

Who reads: hq, the auditor and the other wide readers every unit; a unit its own scores; a city leader the units
of the projects it sponsors in the programme. The what-if is for the wide readers only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from services.scheduling import handlers_year_end
from services.scheduling.deps import HQ, ID_PATTERN, ClockDep, Today
from services.scheduling.handlers_year_end import RecordEvaluation, WhatIf
from services.scheduling.policies import READ_ALL
from services.scheduling.read_model_year_end import evaluation_rule_set, recorded_evaluation
from services.scheduling.responses_year_end import EvaluationAnswer, UnitDetailAnswer, WhatIfAnswer
from services.scheduling.year_end import evaluation_id
from services.scheduling.year_end_rules import PublishEvaluationRules
from shared.auth import Principal
from shared.catalogue.year_end import EvaluationRulesPublished, UnitScore, YearEndEvaluationRecorded
from shared.domain_errors import Forbidden, NotFound
from shared.envelope import Role
from shared.paging import Page, PagingDep, page_of
from shared.project_directory import find_projects
from shared.responses import Written
from shared.runtime import Runtime
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, require_roles, written

router = APIRouter(tags=["evaluations"])
WIDE_READERS = require_roles(*READ_ALL)
ProgrammeQuery = Annotated[str, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")]
YearQuery = Annotated[int, Query(ge=2000, le=2100, description="考评年度")]
RunQuery = Annotated[int | None, Query(ge=1, description="第几次考评(默认最近一次)")]


@router.get("/evaluation-rules", summary="综合成效考评规则版本(权重、等次分数线、生效日期)", dependencies=[MinSeqDep])
async def list_evaluation_rules(rt: RuntimeDep, paging: PagingDep) -> Page[EvaluationRulesPublished]:
    async with rt.pool.acquire() as conn:
        versions = [v.model_dump() for v in (await evaluation_rule_set(conn, rt.schema)).versions]
    return page_of(EvaluationRulesPublished, paging.cut(versions), len(versions), paging)


@router.post(
    "/evaluation-rules", status_code=201, summary="发布新的考评规则版本(生效日期不早于发布当日)", dependencies=[HQ],
    response_model=Written,
)  # fmt: skip
async def publish_evaluation_rules(
    cmd: PublishEvaluationRules, rt: RuntimeDep, meta: MetaDep, day: Today, response: Response
) -> dict[str, Any]:
    return written(await handlers_year_end.publish_rules(rt, cmd, meta, today=day), response, 201)


@router.post(
    "/evaluations", status_code=201, summary="进行年度综合成效考评并记录各单位得分(指挥部办公室)", dependencies=[HQ],
    response_model=Written,
)  # fmt: skip
async def record_evaluation(
    cmd: RecordEvaluation, rt: RuntimeDep, meta: MetaDep, clock: ClockDep, day: Today, response: Response
) -> dict[str, Any]:
    outcome = await handlers_year_end.record(rt, cmd, meta, now=clock.now(), today=day)
    return written(outcome, response, 201, location=f"/v1/evaluations?programme_id={cmd.programme_id}")


async def _run(rt: Runtime, programme_id: str, year: int, run: int | None) -> YearEndEvaluationRecorded:
    async with rt.pool.acquire() as conn:
        state = await recorded_evaluation(conn, rt.schema, evaluation_id(programme_id, year))
    runs = state.runs if state else []
    if not runs:
        raise NotFound(f"{programme_id} 的 {year} 年度尚未进行综合成效考评")
    if run is None:
        return runs[-1]
    if run > len(runs):
        raise NotFound(f"{programme_id} 的 {year} 年度只有 {len(runs)} 次考评")
    return runs[run - 1]


async def _visible_units(rt: Runtime, principal: Principal, programme_id: str) -> set[str] | None:
    """The units whose scores `principal` may read (None: every unit)."""
    if principal.role in READ_ALL:
        return None
    if principal.role == Role.UNIT:
        return {principal.org_id}
    if principal.role == Role.LEADER:
        async with rt.pool.acquire() as conn:
            projects = await find_projects(
                conn, rt.schema, programme_id=programme_id, sponsor_leader_id=principal.org_id
            )
        return {p.unit_id for p in projects}
    raise Forbidden("无权查看综合成效考评")


@router.get(
    "/evaluations", summary="年度综合成效考评结果(已记录的得分、名次、各项与规则版本)", dependencies=[MinSeqDep]
)
async def list_evaluations(
    programme_id: ProgrammeQuery, year: YearQuery, rt: RuntimeDep, principal: PrincipalDep, run: RunQuery = None
) -> EvaluationAnswer:
    recorded = await _run(rt, programme_id, year, run)
    visible = await _visible_units(rt, principal, programme_id)
    units = [u for u in recorded.units if visible is None or u.unit_id in visible]
    return EvaluationAnswer.of(recorded, units)


@router.get(
    "/evaluations/{unit_id}", summary="某单位的考评详情(各项及其依据的事件)", dependencies=[MinSeqDep],
)  # fmt: skip
async def unit_evaluation(
    unit_id: Annotated[str, Path(pattern=ID_PATTERN, description="责任单位编号")],
    programme_id: ProgrammeQuery,
    year: YearQuery,
    rt: RuntimeDep,
    principal: PrincipalDep,
    run: RunQuery = None,
) -> UnitDetailAnswer:
    visible = await _visible_units(rt, principal, programme_id)
    if visible is not None and unit_id not in visible:
        raise Forbidden("只能查看本单位(或所包保项目的责任单位)的考评")
    recorded = await _run(rt, programme_id, year, run)
    unit: UnitScore | None = next((u for u in recorded.units if u.unit_id == unit_id), None)
    if unit is None:
        raise NotFound(f"{unit_id} 不在 {programme_id} 的 {year} 年度考评之中")
    return UnitDetailAnswer.of(recorded, unit)


@router.post(
    "/evaluations/what-if", summary="考评测算:换一套权重或等次分数线重新排名(不记录,已记录的得分不变)",
    dependencies=[WIDE_READERS],
)  # fmt: skip
async def what_if(cmd: WhatIf, rt: RuntimeDep) -> WhatIfAnswer:
    recorded, rules, units = await handlers_year_end.what_if(rt, cmd)
    return WhatIfAnswer.of(recorded, rules, units, cmd.recompute)
