"""scheduling's HTTP API for the year-end evaluation (综合成效考评): rule versions, recorded runs, a unit's parts with
the events behind them, and the what-if (included by `api.router`).

Who reads: hq, the auditor and the other wide readers every unit; a unit its own scores; a city leader the units
of the projects it sponsors in the programme. The what-if is for the wide readers only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from services.scheduling import handlers_year_end
from services.scheduling.deps import HQ, ID_PATTERN, ClockDep, Today
from services.scheduling.handlers_year_end import RecordEvaluation, WhatIf
from services.scheduling.policies import READ_ALL
from services.scheduling.read_model_year_end import (
    EVALUATION_RULE_SET,
    EVALUATIONS,
    evaluation_rule_set,
    recorded_evaluation,
    recorded_evaluations,
)
from services.scheduling.responses_year_end import EvaluationAnswer, UnitDetailAnswer, WhatIfAnswer
from services.scheduling.year_end import evaluation_id
from services.scheduling.year_end_rules import PublishEvaluationRules
from shared.auth import Principal
from shared.catalogue.dates import IsoDate
from shared.catalogue.year_end import EvaluationRulesPublished, UnitScore, YearEndEvaluationRecorded
from shared.contract import may_answer
from shared.domain_errors import Forbidden, NotFound, invalid
from shared.envelope import Role
from shared.paging import Page, PagingDep, page_of
from shared.project_directory import find_projects
from shared.responses import Written
from shared.runtime import Runtime
from shared.time_travel import AsOf, AsOfDep, end_of_china_day, fold_as_of, folded_until
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, require_roles, written

router = APIRouter(tags=["evaluations"])
WIDE_READERS = require_roles(*READ_ALL)
ProgrammeQuery = Annotated[str, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")]
YearQuery = Annotated[int, Query(ge=2000, le=2100, description="考评年度")]
RunQuery = Annotated[int | None, Query(ge=1, description="第几次考评(默认最近一次)")]


@may_answer(404)
async def names_a_run() -> None:
    """Documents the 404 of a list that names a run in its query (`run` beyond the last, nothing recorded by
    `as_shown_on`) (shared.contract)."""


@router.get(
    "/evaluation-rules", summary="综合成效考评规则版本(权重、等次分数线、生效日期;可查历史时刻 as_of)",
    description="给出 as_of 时为历史视图:该时刻已发布的考评规则版本(由事件日志折叠);该时刻尚无版本时为空列表。",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def list_evaluation_rules(
    rt: RuntimeDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[EvaluationRulesPublished]:
    if as_of is not None:
        rules, _ = await folded_until(rt.store, EVALUATION_RULE_SET, "default", as_of.moment)
        as_of.mark(response)
    else:
        async with rt.pool.acquire() as conn:
            rules = await evaluation_rule_set(conn, rt.schema)
    versions = [v.model_dump() for v in rules.versions] if rules is not None else []
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


async def _runs(rt: Runtime, programme_id: str | None, year: int | None) -> list[list[YearEndEvaluationRecorded]]:
    """The recorded runs of each programme year (of one, when both are given), by programme and year."""
    async with rt.pool.acquire() as conn:
        if programme_id is not None and year is not None:
            state = await recorded_evaluation(conn, rt.schema, evaluation_id(programme_id, year))
            states = [state] if state is not None else []
        else:
            states = await recorded_evaluations(conn, rt.schema)
    found = [s.runs for s in states if s.runs]
    found = [runs for runs in found if programme_id in (None, runs[0].programme_id) and year in (None, runs[0].year)]
    return sorted(found, key=lambda runs: (runs[0].programme_id, runs[0].year))


def _pick(runs: list[YearEndEvaluationRecorded], run: int | None) -> YearEndEvaluationRecorded:
    if run is None:
        return runs[-1]
    if run > len(runs):
        raise NotFound(f"{runs[0].programme_id} 的 {runs[0].year} 年度只有 {len(runs)} 次考评")
    return runs[run - 1]


Visible = Callable[[str, str], bool]


async def _visible(rt: Runtime, principal: Principal) -> Visible:
    """Whether `principal` may read a unit's scores in a programme: wide readers every unit, a unit its own, a
    leader the units of the projects it sponsors in that programme."""
    if principal.role in READ_ALL:
        return lambda _programme, _unit: True
    if principal.role == Role.UNIT:
        return lambda _programme, unit: unit == principal.org_id
    if principal.role == Role.LEADER:
        async with rt.pool.acquire() as conn:
            projects = await find_projects(conn, rt.schema, sponsor_leader_id=principal.org_id)
        sponsored = {(p.programme_id, p.unit_id) for p in projects}
        return lambda programme, unit: (programme, unit) in sponsored
    raise Forbidden("无权查看综合成效考评")


@router.get(
    "/evaluations", summary="年度综合成效考评结果(已记录的各单位得分、名次、各项与规则版本)",
    description="三种视图,run、as_shown_on、as_known_for 至多给出一个(后两者须同时给出 programme_id 与 year):"
    "默认为最近一次记录的考评;as_shown_on=D 为 D 日结束前记录的最近一次考评(D 日所显示的,不重算);"
    "as_known_for=D 为按现在所知重新计算的截至 D 日的考评(计入 D 日之后补报、更正的数据,规则版本取 D 日生效者,"
    "之后发布的规则版本不改变结果;不记录,run 为空)。",
    dependencies=[MinSeqDep, Depends(names_a_run)],
)  # fmt: skip
async def list_evaluations(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    clock: ClockDep,
    day: Today,
    programme_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="考评年度")] = None,
    run: RunQuery = None,
    as_shown_on: Annotated[
        IsoDate | None, Query(description="某日显示的考评:该日结束前记录的最近一次考评(不重新计算)")
    ] = None,
    as_known_for: Annotated[
        IsoDate | None, Query(description="按现在所知重算截至某日的考评:计入之后补报与更正,规则取该日生效者(不记录)")
    ] = None,
) -> Page[EvaluationAnswer]:
    given = [name for name, value in (("run", run), ("as_shown_on", as_shown_on), ("as_known_for", as_known_for))
             if value is not None]  # fmt: skip
    if len(given) > 1:
        raise invalid(given[1], f"与 {given[0]} 只能给出一个")
    if given and (programme_id is None or year is None):
        raise invalid(given[0], f"给出 {given[0]} 须同时给出 programme_id 与 year")
    visible = await _visible(rt, principal)
    if as_known_for is not None:
        assert programme_id is not None and year is not None
        units = await _as_known_for(rt, programme_id, year, as_known_for, clock.now())
    elif as_shown_on is not None:
        assert programme_id is not None and year is not None
        units = await _as_shown_on(rt, programme_id, year, as_shown_on, day)
    else:
        units = [EvaluationAnswer.in_run(recorded, unit)
                 for recorded in (_pick(runs, run) for runs in await _runs(rt, programme_id, year))
                 for unit in recorded.units]  # fmt: skip
    items = [answer for answer in units if visible(answer.programme_id, answer.unit_id)]
    return page_of(EvaluationAnswer, paging.cut(items), len(items), paging)


Shown = list[EvaluationAnswer]


async def _as_shown_on(rt: Runtime, programme_id: str, year: int, shown_on: date, today: date) -> Shown:
    """The latest run recorded by the end of `shown_on`, folded from the log: what that day showed."""
    if shown_on > today:
        raise invalid("as_shown_on", f"日期 {shown_on} 晚于平台当日 {today}")
    then = await fold_as_of(rt.store, EVALUATIONS, evaluation_id(programme_id, year), end_of_china_day(shown_on),
                            noun=f"{programme_id} 的 {year} 年度综合成效考评", snapshots=rt.snapshots)  # fmt: skip
    recorded = then.state.latest
    assert recorded is not None
    return [EvaluationAnswer.in_run(recorded, unit) for unit in recorded.units]


async def _as_known_for(rt: Runtime, programme_id: str, year: int, day: date, now: datetime) -> Shown:
    async with rt.pool.acquire() as conn:
        computed = await handlers_year_end.as_known_for(conn, rt.schema, programme_id, year, day, now)
    # Not a recorded run: the header a run would have, so that the answer reads like one, without a run number.
    header = computed.run(None, programme_id)
    return [EvaluationAnswer.in_run(header, unit, recorded=False) for unit in computed.units]


async def _runs_as_of(rt: Runtime, programme_id: str, year: int, as_of: AsOf) -> list[YearEndEvaluationRecorded]:
    """The runs of a programme year recorded by `as_of` (its evaluation aggregate folded from the log)."""
    state, _ = await folded_until(rt.store, EVALUATIONS, evaluation_id(programme_id, year), as_of.moment)
    return state.runs if state is not None else []


@router.get(
    "/evaluations/units/{unit_id}", summary="某单位的考评详情(各项及其依据的事件;可查历史时刻 as_of)",
    description="给出 as_of 时为历史视图:该时刻已记录的考评(由事件日志折叠),默认取其中最近一次;该时刻尚未考评时"
    "返回 404(与现行视图相同)。",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def unit_evaluation(
    unit_id: Annotated[str, Path(pattern=ID_PATTERN, description="责任单位编号")],
    programme_id: ProgrammeQuery,
    year: YearQuery,
    rt: RuntimeDep,
    principal: PrincipalDep,
    as_of: AsOfDep,
    response: Response,
    run: RunQuery = None,
) -> UnitDetailAnswer:
    if not (await _visible(rt, principal))(programme_id, unit_id):
        raise Forbidden("只能查看本单位(或所包保项目的责任单位)的考评")
    if as_of is not None:
        runs = [then] if (then := await _runs_as_of(rt, programme_id, year, as_of)) else []
        as_of.mark(response)
    else:
        runs = await _runs(rt, programme_id, year)
    if not runs:
        raise NotFound(f"{programme_id} 的 {year} 年度尚未进行综合成效考评")
    recorded = _pick(runs[0], run)
    unit: UnitScore | None = next((u for u in recorded.units if u.unit_id == unit_id), None)
    if unit is None:
        raise NotFound(f"{unit_id} 不在 {programme_id} 的 {year} 年度考评之中")
    return UnitDetailAnswer.of(recorded, unit)


@router.post(
    "/evaluations/what-if", summary="考评测算:换一套权重或等次分数线重新排名(不记录,已记录的得分不变)",
    dependencies=[WIDE_READERS],
)  # fmt: skip
async def what_if(cmd: WhatIf, rt: RuntimeDep, clock: ClockDep) -> WhatIfAnswer:
    result = await handlers_year_end.what_if(rt, cmd, clock.now())
    return WhatIfAnswer.of(result.recorded, result.rules, result.units, cmd.recompute, result.refolded)
