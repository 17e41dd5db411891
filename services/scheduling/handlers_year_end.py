"""The year-end evaluation's use cases: publish rules, record a run (hq), what-if (records nothing).

Recording computes every unit's parts from scheduling's ledger of facts first (one query), then load -> decide ->
append through `handle`: the run is one event, so a programme year's scores are all recorded or none is. "As now
known for" a date computes the same way on everything recorded until now, and records nothing (docs/adr/0037).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

import asyncpg
from pydantic import Field, StrictBool

from services.scheduling import year_end
from services.scheduling.read_model_year_end import (
    EVALUATION_RULE_SET,
    EVALUATIONS,
    evaluation_rule_set,
    programme_facts,
    recorded_evaluation,
)
from services.scheduling.reporting_cadence import end_of_day
from services.scheduling.year_end_parts import Period, ReportingRules, Tally, project_parts
from services.scheduling.year_end_rules import (
    EVALUATION_RULE_SET_ID,
    PublishEvaluationRules,
    decide_default,
    decide_publish,
)
from shared.catalogue.dates import IsoDate
from shared.catalogue.year_end import (
    Deductions,
    EvaluationRules,
    EvaluationRulesPublished,
    Part,
    Thresholds,
    UnitScore,
    Weights,
    YearEndEvaluationRecorded,
)
from shared.clock import CHINA
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
    weights: Weights | None = Field(default=None, description="测算用权重(各项之和为 100;可增加考评项)")
    deductions: Deductions | None = Field(default=None, description="测算用扣分项(默认沿用已记录的)")
    thresholds: Thresholds | None = Field(default=None, description="测算用等次分数线(默认沿用已记录的)")
    recompute: StrictBool = Field(
        default=False, description="按现在所知的事件重新计算同一考评截止日的各项(补报、更正计入),而非沿用已记录的各项"
    )


@dataclass(frozen=True)
class Computed:
    period: Period
    rules: EvaluationRulesPublished
    reporting_rule_version: int | None
    reporting_rule_versions: list[int]
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
    facts = await programme_facts(conn, schema, programme_id, period.year, period.known_at)
    reporting = ReportingRules.of(facts.reporting_rules, period)
    tallies: dict[str, dict[Part, Tally]] = {}
    for unit_id, project_ids in facts.units.items():
        unit = tallies.setdefault(unit_id, {part: Tally() for part in Part})
        for project_id in project_ids:
            parts = project_parts(
                facts.project[project_id], facts.plan[project_id], list(facts.issues[project_id].values()),
                list(facts.orders[project_id].values()), period, reporting,
            )  # fmt: skip
            for part, tally in parts.items():
                unit[part].add(tally)
    units = year_end.score_units(tallies, facts.units, rules.rules)
    in_force = reporting.in_force(period.as_of)
    return Computed(period, rules, in_force.version if in_force else None, reporting.used(period), units)


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
            reporting_rule_version=computed.reporting_rule_version,
            reporting_rule_versions=computed.reporting_rule_versions, units=computed.units,
        ),
        meta, scope=f"evaluation:{cmd.programme_id}:{year}",
    )  # fmt: skip


async def as_known_for(
    conn: asyncpg.Connection, schema: str, programme_id: str, year: int, day: date, now: datetime
) -> Computed:
    """The programme year as now known for `day`: every event recorded until `now` (late reports and corrections
    included) about what had happened by the end of `day`, under the rule version in force on `day` (a version
    published after it cannot be: no rule takes effect before it is published). Records nothing."""
    await _programme_year(conn, schema, programme_id)
    if day.year != year:
        raise invalid("as_known_for", f"须在 {year} 年内")
    if day > now.astimezone(CHINA).date():
        raise invalid("as_known_for", "不能晚于今日")
    rules = (await evaluation_rule_set(conn, schema)).in_force(day)
    if rules is None:
        raise invalid("as_known_for", "该日尚无生效的考评规则")
    period = Period(year, day, now, min(end_of_day(day), now))
    return await compute(conn, schema, programme_id, period, rules)


async def latest_run(conn: asyncpg.Connection, schema: str, programme_id: str, year: int) -> YearEndEvaluationRecorded:
    state = await recorded_evaluation(conn, schema, year_end.evaluation_id(programme_id, year))
    if state is None or state.latest is None:  # what a what-if starts from: a body naming nothing recorded is invalid
        raise invalid("year", f"{programme_id} 的 {year} 年度尚未进行综合成效考评")
    return state.latest


@dataclass(frozen=True)
class WhatIfResult:
    recorded: YearEndEvaluationRecorded
    rules: EvaluationRules
    units: list[UnitScore]
    refolded: bool  # the parts were folded again (recompute, or a part the recorded run does not list)


async def what_if(rt: Runtime, cmd: WhatIf, now: datetime) -> WhatIfResult:
    """The latest recorded run, the rules tried and the units under them; nothing is appended. The recorded parts
    are reweighed; they are folded again as now known for the recorded date (`recompute`), or as known when the run
    was recorded when the rules tried add a part the run does not list."""
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
        rules = EvaluationRules(
            weights=cmd.weights or rules.weights, deductions=cmd.deductions or rules.deductions,
            thresholds=cmd.thresholds or rules.thresholds,
        )  # fmt: skip
        basis = recorded
        refold = cmd.recompute or not year_end.lists_every_part(recorded, rules)
        if refold:
            known_at = now if cmd.recompute else recorded.known_at
            period = Period(recorded.year, recorded.as_of, known_at, min(recorded.known_at, known_at))
            published = EvaluationRulesPublished(version=recorded.rule_version, effective_from=recorded.as_of,
                                                 rules=rules)  # fmt: skip
            computed = await compute(conn, rt.schema, cmd.programme_id, period, published)
            basis = recorded.model_copy(update={"units": computed.units})
    return WhatIfResult(recorded, rules, year_end.what_if(basis, rules), refold)
