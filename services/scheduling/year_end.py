"""The year-end evaluation (综合成效考评), free of I/O: a unit's parts weighed into a score, graded and ranked under
one rule version; recording a run; a what-if that weighs recorded parts otherwise and records nothing.

A part's value is its tally as a percentage (two decimals, at most 100; full marks when nothing was due, e.g. a
unit without issues); its weighted score is value × weight / 100 (two decimals). A deduction (扣分项, e.g. weeks
red) is its points per item times the items, at most its cap, and weighs in negatively. The score is their sum
(never below 0), so the parts add up to the score shown (docs/adr/0032, 0037).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

from services.scheduling.year_end_parts import Tally
from shared.catalogue import CATALOGUE
from shared.catalogue.year_end import (
    DEDUCTION_PARTS,
    Deduction,
    EvaluationRules,
    EvaluationRulesPublished,
    Grade,
    Part,
    PartScore,
    Thresholds,
    UnitScore,
    YearEndEvaluationRecorded,
)
from shared.envelope import Envelope

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def evaluation_id(programme_id: str, year: int) -> str:
    return f"{programme_id}-{year}"


def percent(tally: Tally) -> Decimal:
    if tally.denominator == 0:
        return HUNDRED.quantize(CENT)
    return min(HUNDRED, HUNDRED * tally.numerator / tally.denominator).quantize(CENT, ROUND_HALF_UP)


def weighted(value: Decimal, weight: int) -> Decimal:
    return (value * weight / HUNDRED).quantize(CENT, ROUND_HALF_UP)


def grade(score: Decimal, thresholds: Thresholds) -> Grade:
    if score >= thresholds.excellent:
        return Grade.EXCELLENT
    if score >= thresholds.good:
        return Grade.GOOD
    if score >= thresholds.passing:
        return Grade.PASS
    return Grade.FAIL


def deducted(items: Decimal, rule: Deduction) -> Decimal:
    return min(rule.at_most, rule.points_each * items).quantize(CENT, ROUND_HALF_UP)


def part_score(part: Part, tally: Tally, rules: EvaluationRules) -> PartScore:
    if part in DEDUCTION_PARTS:
        value, weight = deducted(tally.numerator, rules.deductions.root[part]), 0
        weighted_score = Decimal(0) - value  # never "-0.00"
    else:
        value, weight = percent(tally), rules.weights.of(part)
        weighted_score = weighted(value, weight)
    return PartScore(
        part=part, counted=tally.counted, numerator=tally.numerator, denominator=tally.denominator, value=value,
        weight=weight, weighted=weighted_score, events=tally.refs(),
    )  # fmt: skip


def reweighed(parts: Sequence[PartScore], rules: EvaluationRules) -> list[PartScore]:
    """The same parts (tallies and events) under other rules: the parts they list, in their order."""
    by_part = {p.part: p for p in parts}
    return [part_score(part, _tally_of(by_part[part]), rules).model_copy(update={"events": by_part[part].events})
            for part in rules.parts]  # fmt: skip


def _tally_of(p: PartScore) -> Tally:
    return Tally(p.numerator, p.denominator, p.counted)


def score_of(parts: Sequence[PartScore]) -> Decimal:
    """The sum of the weighted parts, never below 0 (deductions cannot take a unit under nothing)."""
    return max(Decimal(0), sum((p.weighted for p in parts), Decimal(0)))


def ranked(units: Sequence[UnitScore], thresholds: Thresholds) -> list[UnitScore]:
    """Scored and graded units, best first; equal scores share a rank (1, 1, 3), then by unit id."""
    scored = [u.model_copy(update={"score": score_of(u.parts)}) for u in units]
    scored.sort(key=lambda u: (-u.score, u.unit_id))
    result: list[UnitScore] = []
    for i, unit in enumerate(scored):
        rank = result[-1].rank if result and result[-1].score == unit.score else i + 1
        result.append(unit.model_copy(update={"rank": rank, "grade": grade(unit.score, thresholds)}))
    return result


def score_units(
    tallies: Mapping[str, Mapping[Part, Tally]], projects: Mapping[str, list[str]], rules: EvaluationRules
) -> list[UnitScore]:
    units = [
        UnitScore(unit_id=unit_id, score=Decimal(0), grade=Grade.FAIL, rank=1, project_ids=sorted(projects[unit_id]),
                  parts=[part_score(part, tallies[unit_id][part], rules) for part in rules.parts])
        for unit_id in tallies
    ]  # fmt: skip
    return ranked(units, rules.thresholds)


# -- the recorded runs of a programme year ------------------------------------------------------------------------


class EvaluationState(BaseModel):
    runs: list[YearEndEvaluationRecorded] = Field(default_factory=list)

    @property
    def latest(self) -> YearEndEvaluationRecorded | None:
        return self.runs[-1] if self.runs else None


def evolve_evaluation(
    state: EvaluationState | None, envelope: Envelope, payload: BaseModel | None = None
) -> EvaluationState:
    if payload is None:
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    assert isinstance(payload, YearEndEvaluationRecorded)
    return EvaluationState(runs=[*(state.runs if state else []), payload])


def decide_record(
    state: EvaluationState | None,
    *,
    programme_id: str,
    year: int,
    as_of: date,
    known_at: datetime,
    rules: EvaluationRulesPublished,
    reporting_rule_version: int | None,
    reporting_rule_versions: list[int],
    units: list[UnitScore],
) -> YearEndEvaluationRecorded:
    return YearEndEvaluationRecorded(
        run=len(state.runs) + 1 if state else 1, programme_id=programme_id, year=year, as_of=as_of,
        known_at=known_at, rule_version=rules.version, rules=rules.rules,
        reporting_rule_version=reporting_rule_version, reporting_rule_versions=reporting_rule_versions, units=units,
    )  # fmt: skip


def what_if(recorded: YearEndEvaluationRecorded, rules: EvaluationRules) -> list[UnitScore]:
    """The recorded parts under other weights, deductions and thresholds, re-ranked; the recorded run is left as it
    was. Every part `rules` list must be among the recorded ones (else the parts are refolded: handlers_year_end)."""
    units = [u.model_copy(update={"parts": reweighed(u.parts, rules)}) for u in recorded.units]
    return ranked(units, rules.thresholds)


def lists_every_part(recorded: YearEndEvaluationRecorded, rules: EvaluationRules) -> bool:
    recorded_parts = {p.part for u in recorded.units for p in u.parts} if recorded.units else set(rules.parts)
    return set(rules.parts) <= recorded_parts
