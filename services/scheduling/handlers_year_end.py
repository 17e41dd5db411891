"""The year-end evaluation's use cases: publish rules, record a run (hq), what-if (records nothing).

Recording computes every unit's parts from scheduling's ledger of facts first (one query), then load -> decide ->
append through `handle`: the run is one event, so a programme year's scores are all recorded or none is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

import asyncpg
from pydantic import Field, StrictBool

from services.scheduling import year_end
from services.scheduling.evaluation import rule_set
from services.scheduling.read_model_year_end import (
    EVALUATION_RULE_SET,
    EVALUATIONS,
    evaluation_rule_set,
    programme_facts,
    recorded_evaluation,
)
from services.scheduling.reporting_cadence import end_of_day
from services.scheduling.year_end_parts import Period, Tally, project_parts
from services.scheduling.year_end_rules import (
    EVALUATION_RULE_SET_ID,
    PublishEvaluationRules,
    decide_default,
    decide_publish,
)
from shared.catalogue.dates import IsoDate
from shared.catalogue.scheduling import Rules
from shared.catalogue.year_end import (
    EvaluationRules,
    EvaluationRulesPublished,
    Part,
    Thresholds,
    UnitScore,
    Weights,
    YearEndEvaluationRecorded,
)
from shared.command_bodies import Strict
from shared.commands import CommandMeta, Outcome, execute, handle
from shared.domain_errors import invalid
from shared.eventstore import Context
from shared.runtime import Runtime

DEFAULT_EVALUATION_RULES_EVENT_ID = uuid.UUID("3c7e9a1b-2d4f-4e6a-8b0c-1d2e3f4a5b6c")
Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Year = Annotated[int, Field(ge=2000, le=2100, strict=True)]


class RecordEvaluation(Strict):
    programme_id: Slug = Field(description="年度重点项目批次编号")
    year: Year | None = Field(default=None, description="考评年度(默认为该批次的年度)")
    as_of: IsoDate | None = Field(default=None, description="考评截止日(默认为年度最后一天与今日中较早者)")


class WhatIf(Strict):
    programme_id: Slug
    year: Year
    rule_version: Annotated[int, Field(ge=1, strict=True)] | None = Field(
        default=None, description="按已发布的某一考评规则版本测算(与 weights/thresholds 二选一)"
    )
    weights: Weights | None = Field(default=None, description="测算用权重(各项之和为 100)")
    thresholds: Thresholds | None = Field(default=None, description="测算用等次分数线(默认沿用已记录的)")
    recompute: StrictBool = Field(
        default=False, description="按现在所知的事件重新计算各项(同一考评截止时刻),而非沿用已记录的各项得分率"
    )


@dataclass(frozen=True)
class Computed:
    period: Period
    rules: EvaluationRulesPublished
    reporting_rule_version: int | None
    units: list[UnitScore]


async def publish_rules(rt: Runtime, cmd: PublishEvaluationRules, meta: CommandMeta, *, today: date) -> Outcome:
    return await handle(
        rt, EVALUATION_RULE_SET, EVALUATION_RULE_SET_ID, lambda s: decide_publish(s, cmd, today), meta,
        scope="evaluation-rules",
    )  # fmt: skip


async def ensure_default_rules(rt: Runtime, ctx: Context) -> Outcome:
    """Publish version 1 (the defaults) once; every replica may try, one appends, the rest find it done."""
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=EVALUATION_RULE_SET, aggregate_id=EVALUATION_RULE_SET_ID,
        decide=decide_default, context=ctx, event_id=DEFAULT_EVALUATION_RULES_EVENT_ID,
    )  # fmt: skip


async def _programme_year(conn: asyncpg.Connection, schema: str, programme_id: str) -> int:
    year = await conn.fetchval(f"SELECT year FROM {schema}.programmes WHERE id = $1", programme_id)
    if year is None:
        raise invalid("programme_id", "年度重点项目批次不存在")
    return int(year)


def _as_of(year: int, as_of: date | None, today: date) -> date:
    if year > today.year:
        raise invalid("year", f"{year} 年度尚未开始")
    if as_of is None:
        return min(date(year, 12, 31), today)
    if as_of.year != year:
        raise invalid("as_of", f"考评截止日须在 {year} 年内")
    if as_of > today:
        raise invalid("as_of", f"考评截止日不能晚于今日 {today.isoformat()}")
    return as_of


async def compute(
    conn: asyncpg.Connection, schema: str, programme_id: str, period: Period, rules: EvaluationRulesPublished
) -> Computed:
    """Every unit's parts as the ledger knows them at `period.known_at`, scored under `rules`."""
    reporting = (await rule_set(conn, schema)).applicable(period.as_of)
    facts = await programme_facts(conn, schema, programme_id, period.year, period.known_at)
    tallies: dict[str, dict[Part, Tally]] = {}
    for unit_id, project_ids in facts.units.items():
        unit = tallies.setdefault(unit_id, {part: Tally() for part in Part})
        for project_id in project_ids:
            parts = project_parts(
                facts.project[project_id], facts.plan[project_id], list(facts.issues[project_id].values()), period,
                reporting.rules if reporting else Rules(),
            )  # fmt: skip
            for part, tally in parts.items():
                unit[part].add(tally)
    units = year_end.score_units(tallies, facts.units, rules.rules)
    return Computed(period, rules, reporting.version if reporting else None, units)


async def record(rt: Runtime, cmd: RecordEvaluation, meta: CommandMeta, *, now: datetime, today: date) -> Outcome:
    async with rt.pool.acquire() as conn:
        programme_year = await _programme_year(conn, rt.schema, cmd.programme_id)
        year = cmd.year if cmd.year is not None else programme_year
        as_of = _as_of(year, cmd.as_of, today)
        rules = (await evaluation_rule_set(conn, rt.schema)).in_force(as_of)
        if rules is None:
            raise invalid("as_of", "该日尚无生效的考评规则")
        period = Period(year, as_of, min(end_of_day(as_of), now))
        computed = await compute(conn, rt.schema, cmd.programme_id, period, rules)
    return await handle(
        rt, EVALUATIONS, year_end.evaluation_id(cmd.programme_id, year),
        lambda s: year_end.decide_record(
            s, programme_id=cmd.programme_id, year=year, as_of=as_of, known_at=period.known_at, rules=rules,
            reporting_rule_version=computed.reporting_rule_version, units=computed.units,
        ),
        meta, scope=f"evaluation:{cmd.programme_id}:{year}",
    )  # fmt: skip


async def latest_run(conn: asyncpg.Connection, schema: str, programme_id: str, year: int) -> YearEndEvaluationRecorded:
    state = await recorded_evaluation(conn, schema, year_end.evaluation_id(programme_id, year))
    if state is None or state.latest is None:  # what a what-if starts from: a body naming nothing recorded is invalid
        raise invalid("year", f"{programme_id} 的 {year} 年度尚未进行综合成效考评")
    return state.latest


async def what_if(rt: Runtime, cmd: WhatIf) -> tuple[YearEndEvaluationRecorded, EvaluationRules, list[UnitScore]]:
    """The latest recorded run, the rules tried and the units under them; nothing is appended."""
    if cmd.rule_version is not None and cmd.weights is not None:
        raise invalid("rule_version", "rule_version 与 weights 只能填一个")
    async with rt.pool.acquire() as conn:
        recorded = await latest_run(conn, rt.schema, cmd.programme_id, cmd.year)
        rules = recorded.rules
        if cmd.rule_version is not None:
            version = (await evaluation_rule_set(conn, rt.schema)).get(cmd.rule_version)
            if version is None:
                raise invalid("rule_version", "考评规则版本不存在")
            rules = version.rules
        rules = EvaluationRules(weights=cmd.weights or rules.weights, thresholds=cmd.thresholds or rules.thresholds)
        basis = recorded
        if cmd.recompute:
            period = Period(recorded.year, recorded.as_of, recorded.known_at)
            published = EvaluationRulesPublished(
                version=recorded.rule_version, effective_from=recorded.as_of, rules=recorded.rules
            )
            computed = await compute(conn, rt.schema, cmd.programme_id, period, published)
            basis = recorded.model_copy(update={"units": computed.units})
    return recorded, rules, year_end.what_if(basis, rules)
