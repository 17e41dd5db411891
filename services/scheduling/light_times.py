"""A project's light at other times than now (docs/adr/0031): bitemporal, with record time and business day apart.

- "As shown on D" (`as_shown.py`): the light event recorded on D or before, reasons and rule version as recorded.
- "As now known for D": D recomputed from everything recorded up to now (a report filed late, a correction, a
  milestone completed later with an earlier date), under the rule version that was in force on D *as published by
  the end of D*. A rule version published later, even one made effective from a date before D, is not applied
  after the fact: the rule set is folded from the log up to the end of D (shared.time_travel), then asked which
  version applied on D. The project's phase is the one it had at the end of D (a phase change is a fact of the day
  it is recorded: a project started later had not started on D), from the phase changes' record times.
- "As of a moment" (record time): the light aggregate folded from the log up to that moment (in api_lights).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

from services.scheduling.domain_rules import RuleSetState
from services.scheduling.evaluation import DEFAULT_RULES, RULE_SET_ID, evaluate, judged_at, load_projects, situations
from services.scheduling.lights import LightResult, compute_light
from services.scheduling.phases_as_known import phases_as_known
from services.scheduling.read_model import RULE_SET
from services.scheduling.responses_lights import LightKnownAnswer, WhatIfAnswer
from shared.catalogue.scheduling import RuleVersionPublished
from shared.domain_errors import NotFound
from shared.eventstore import EventStore
from shared.problems import Problem
from shared.runtime import Runtime
from shared.time_travel import end_of_china_day, folded_until


async def rules_known_by(store: EventStore, moment: datetime) -> RuleSetState:
    """The rule set as published by `moment` (none published yet: empty, i.e. the defaults)."""
    state, _ = await folded_until(store, RULE_SET, RULE_SET_ID, moment)
    return state or RuleSetState()


def light_answer(project_id: str, day: date, light: LightResult, rules: RuleVersionPublished) -> WhatIfAnswer:
    """A computed (never recorded) light in the what-if's shape."""
    dims = {
        name: getattr(light, name).model_dump(mode="json")
        for name in ("milestones", "investment", "reporting", "issues")
    }
    return WhatIfAnswer.model_validate({
        "project_id": project_id, "as_of": day.isoformat(), "colour": light.colour.value,
        "rule_version": rules.version, "spi": light.spi, "points_behind": light.points_behind,
        "exemptions_applied": light.exemptions_applied, "recorded": False, **dims,
        "investment_completion_pct": light.completion_pct, "time_progress_pct": light.time_progress_pct,
        "report_weeks": [w.model_dump(mode="json") for w in light.report_weeks],
    })  # fmt: skip


async def what_if_light(
    rt: Runtime, project_id: str, day: date, now: datetime, rule_version: int | None
) -> WhatIfAnswer:
    """The what-if: `day` computed from what is known now under `rule_version` of the current rule set (None: the
    version applicable on `day` in it)."""
    async with rt.pool.acquire() as conn:
        [evaluation] = await evaluate(
            conn, rt.schema, day, project_ids=[project_id], rule_version=rule_version, at=judged_at(day, now)
        )
    return light_answer(project_id, day, evaluation.light, evaluation.rules)


async def light_as_known(rt: Runtime, project_id: str, day: date, today: date, now: datetime) -> LightKnownAnswer:
    """The light of the past day `day` as now known (see the module's docstring)."""
    if day > today:
        raise Problem(
            422, f"as_known_for: 日期 {day} 晚于平台当日 {today}",
            errors=[{"field": "as_known_for", "reason": f"晚于平台当日 {today}"}],
        )  # fmt: skip
    known_by = min(end_of_china_day(day), now)
    rules = (await rules_known_by(rt.store, known_by)).applicable(day) or DEFAULT_RULES
    async with rt.pool.acquire() as conn:
        projects = await load_projects(conn, rt.schema, [project_id])
        if not projects:
            raise NotFound("项目不存在", field="project_id", reason="项目不存在")
        phases = await phases_as_known(conn, rt.schema, {p.id: p.phase for p in projects}, known_by)
        then = [dataclasses.replace(p, phase=phases[p.id]) for p in projects]
        found = await situations(conn, rt.schema, day, then, judged_at(day, now))
    light = compute_light(found[project_id][0], rules.rules)
    computed = light_answer(project_id, day, light, rules)
    return LightKnownAnswer.model_validate(
        {**computed.model_dump(mode="json"), "as_known_for": day, "known_at": now, "rules_known_by": known_by}
    )
