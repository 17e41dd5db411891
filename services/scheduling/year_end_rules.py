"""The year-end evaluation's rules as data (考评规则版本), free of I/O: weights and grade thresholds with effective
dates, published by hq, version 1 the defaults.

A version takes effect on or after the day it is published, never earlier: the version in force on a day is then
the same whenever it is asked, so a recomputation for an evaluation date uses the rules that were in force on it,
never a version published later (docs/adr/0032).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from shared.catalogue import CATALOGUE
from shared.catalogue.dates import IsoDate
from shared.catalogue.year_end import EvaluationRules, EvaluationRulesPublished
from shared.command_bodies import Strict
from shared.domain_errors import invalid
from shared.envelope import Envelope

EVALUATION_RULE_SET_ID = "default"
DEFAULT_EVALUATION_RULES_NOTE = "默认考评规则(投资 40、节点 30、问题 15、报送 15;优秀 90、良好 80、合格 60)"


class PublishEvaluationRules(Strict):
    effective_from: IsoDate = Field(description="生效日期(不早于发布当日)")
    rules: EvaluationRules
    note: str = Field(default="", max_length=1000)


class EvaluationRuleSetState(BaseModel):
    versions: list[EvaluationRulesPublished] = Field(default_factory=list)

    def in_force(self, day: date) -> EvaluationRulesPublished | None:
        candidates = [v for v in self.versions if v.effective_from <= day]
        return max(candidates, key=lambda v: (v.effective_from, v.version)) if candidates else None

    def get(self, version: int) -> EvaluationRulesPublished | None:
        return next((v for v in self.versions if v.version == version), None)


def evolve_evaluation_rule_set(
    state: EvaluationRuleSetState | None, envelope: Envelope, payload: BaseModel | None = None
) -> EvaluationRuleSetState:
    if payload is None:
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    assert isinstance(payload, EvaluationRulesPublished)
    return EvaluationRuleSetState(versions=[*(state.versions if state else []), payload])


def decide_publish(
    state: EvaluationRuleSetState | None, cmd: PublishEvaluationRules, today: date
) -> EvaluationRulesPublished:
    if cmd.effective_from < today:
        raise invalid("effective_from", f"考评规则不能追溯生效:生效日期不得早于发布当日 {today.isoformat()}")
    versions = state.versions if state else []
    return EvaluationRulesPublished(
        version=len(versions) + 1, effective_from=cmd.effective_from, rules=cmd.rules, note=cmd.note
    )


def decide_default(state: EvaluationRuleSetState | None) -> EvaluationRulesPublished | None:
    """Version 1 (the defaults, in force from 2000-01-01) unless a version exists already: nothing to do then."""
    if state is not None and state.versions:
        return None
    return EvaluationRulesPublished(
        version=1, effective_from=date(2000, 1, 1), rules=EvaluationRules(), note=DEFAULT_EVALUATION_RULES_NOTE
    )
