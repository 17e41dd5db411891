"""The year-end evaluation's use cases: publish rules, record a run (hq), what-if (records nothing).

Recording computes every unit's parts from scheduling's ledger of facts first (one query), then load -> decide ->
append through `handle`: the run is one event, so a programme year's scores are all recorded or none is. "As now
known for" a date computes the same way on everything recorded until now, and records nothing (docs/adr/0037).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
CLOSING_NAMESPACE = uuid.UUID("8e1f0c52-7a3b-4d9e-9c21-5b6d4e3f2a10")  # the year-end timer's event ids
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

    def run(self, state: year_end.EvaluationState | None, programme_id: str) -> YearEndEvaluationRecorded:
        """The run these scores make: the next of `state` when recorded, run 1 of none for "as now known" (shown,
        not recorded)."""
        return year_end.decide_record(
            state, programme_id=programme_id, year=self.period.year, as_of=self.period.as_of,
            known_at=self.period.known_at, rules=self.rules, reporting_rule_version=self.reporting_rule_version,
            reporting_rule_versions=self.reporting_rule_versions, units=self.units,
        )  # fmt: skip


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
        lambda s: computed.run(s, cmd.programme_id), meta, scope=f"evaluation:{cmd.programme_id}:{year}",
    )  # fmt: skip


def closing_day(year: int) -> date:
    """The day the timer records a programme year's evaluation: the first working day after it ends, taken as the
    first weekday after New Year's Day (scheduling keeps no holiday calendar: issue_coordination owns it)."""
    day = date(year + 1, 1, 2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def closing_event_id(programme_id: str, year: int) -> uuid.UUID:
    return uuid.uuid5(CLOSING_NAMESPACE, year_end.evaluation_id(programme_id, year))


async def record_closed_years(rt: Runtime, day: date, now: datetime, ctx: Context) -> list[Outcome]:
    """The year-end timer's work on `day`: from the closing day of a programme year on, record its evaluation as of
    31 December, once. Idempotent across replicas and restarts: nothing is appended when a run as of the whole year
    (as of 31 December, counting what was known by its end) is recorded already (by hq or by an earlier timer run),
    and the event id is derived from the programme year, so that two replicas racing append it once. Answers what
    was appended (an outcome per programme year recorded now)."""
    year = day.year - 1
    if day < closing_day(year):
        return []
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT id FROM {rt.schema}.programmes WHERE year = $1 ORDER BY id", year)
    outcomes = [await _record_closing(rt, r["id"], year, now, ctx) for r in rows]
    return [outcome for outcome in outcomes if outcome is not None and outcome.appended]


def _closed(state: year_end.EvaluationState | None, as_of: date) -> bool:
    return state is not None and any(r.as_of == as_of and r.known_at == end_of_day(as_of) for r in state.runs)


async def _record_closing(rt: Runtime, programme_id: str, year: int, now: datetime, ctx: Context) -> Outcome | None:
    as_of = date(year, 12, 31)
    async with rt.pool.acquire() as conn:
        if _closed(await recorded_evaluation(conn, rt.schema, year_end.evaluation_id(programme_id, year)), as_of):
            return None  # recorded already: no need to compute it again
        rules = (await evaluation_rule_set(conn, rt.schema)).in_force(as_of)
        if rules is None:
            raise invalid("as_of", "该日尚无生效的考评规则")
        period = Period(year, as_of, min(end_of_day(as_of), now))
        computed = await compute(conn, rt.schema, programme_id, period, rules)

    def decide(state: year_end.EvaluationState | None) -> YearEndEvaluationRecorded | None:
        return None if _closed(state, as_of) else computed.run(state, programme_id)

    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=EVALUATIONS,
        aggregate_id=year_end.evaluation_id(programme_id, year), decide=decide, context=ctx,
        event_id=closing_event_id(programme_id, year),
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
