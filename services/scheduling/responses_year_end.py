"""What the year-end evaluation's routes answer: recorded scores with their parts, a unit's parts with the events
behind them, and a what-if beside the recorded figures."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from shared.catalogue.year_end import (
    GRADE_LABELS,
    PART_LABELS,
    EvaluationRules,
    EventRef,
    Grade,
    Part,
    PartScore,
    UnitScore,
    YearEndEvaluationRecorded,
)


class PartAnswer(BaseModel):
    part: Part
    label: str = Field(description="考评项")
    value: Decimal = Field(description="得分率(%);扣分项为所扣分数")
    weight: int = Field(description="权重(分);扣分项为 0")
    weighted: Decimal = Field(description="加权得分;扣分项为负")
    counted: int = Field(description="计入事项数")
    numerator: Decimal
    denominator: Decimal
    event_count: int = Field(description="依据事件数(详情见单位考评)")

    @classmethod
    def of(cls, p: PartScore) -> PartAnswer:
        return cls(part=p.part, label=PART_LABELS[p.part], value=p.value, weight=p.weight, weighted=p.weighted,
                   counted=p.counted, numerator=p.numerator, denominator=p.denominator,
                   event_count=len(p.events))  # fmt: skip


class PartDetailAnswer(PartAnswer):
    events: list[EventRef] = Field(description="本项依据的事件(可经 GET /v1/audit/events/{id} 查看)")

    @classmethod
    def of(cls, p: PartScore) -> PartDetailAnswer:
        return cls(**PartAnswer.of(p).model_dump(), events=p.events)


class UnitAnswer(BaseModel):
    unit_id: str
    rank: int = Field(description="名次")
    score: Decimal = Field(description="综合得分(满分 100)")
    grade: Grade
    grade_label: str = Field(description="等次")
    project_ids: list[str]
    parts: list[PartAnswer]

    @classmethod
    def of(cls, u: UnitScore) -> UnitAnswer:
        return cls(unit_id=u.unit_id, rank=u.rank, score=u.score, grade=u.grade, grade_label=GRADE_LABELS[u.grade],
                   project_ids=u.project_ids, parts=[PartAnswer.of(p) for p in u.parts])  # fmt: skip


class RunAnswer(BaseModel):
    programme_id: str
    year: int
    run: int = Field(description="第几次考评(以最近一次为准)")
    as_of: date = Field(description="考评截止日")
    known_at: datetime = Field(description="计入该时刻前记录的事件")
    rule_version: int = Field(description="考评规则版本")
    rules: EvaluationRules
    reporting_rule_version: int | None = Field(description="考评截止日生效的预警规则版本")
    reporting_rule_versions: list[int] = Field(description="判定各周填报截止时间所用的预警规则版本")

    @classmethod
    def header(cls, r: YearEndEvaluationRecorded) -> dict[str, Any]:
        return r.model_dump(exclude={"units"})


class EvaluationAnswer(UnitAnswer):
    """One unit's score in a recorded run of a programme year (the list: every unit, ranked)."""

    programme_id: str
    year: int
    run: int | None = Field(description="第几次考评(默认最近一次);按现在所知重算(as_known_for)时为空")
    as_of: date = Field(description="考评截止日")
    known_at: datetime = Field(description="计入该时刻前记录的事件")
    rule_version: int = Field(description="考评规则版本")

    @classmethod
    def in_run(cls, r: YearEndEvaluationRecorded, u: UnitScore, *, recorded: bool = True) -> EvaluationAnswer:
        return cls(**UnitAnswer.of(u).model_dump(), programme_id=r.programme_id, year=r.year,
                   run=r.run if recorded else None, as_of=r.as_of, known_at=r.known_at,
                   rule_version=r.rule_version)  # fmt: skip


class UnitDetailAnswer(RunAnswer):
    unit_id: str
    rank: int
    score: Decimal
    grade: Grade
    grade_label: str
    project_ids: list[str]
    parts: list[PartDetailAnswer]

    @classmethod
    def of(cls, r: YearEndEvaluationRecorded, u: UnitScore) -> UnitDetailAnswer:
        return cls(**cls.header(r), unit_id=u.unit_id, rank=u.rank, score=u.score, grade=u.grade,
                   grade_label=GRADE_LABELS[u.grade], project_ids=u.project_ids,
                   parts=[PartDetailAnswer.of(p) for p in u.parts])  # fmt: skip


class WhatIfUnit(UnitAnswer):
    recorded_rank: int | None = Field(description="已记录的名次")
    recorded_score: Decimal | None = Field(description="已记录的得分")


class WhatIfAnswer(BaseModel):
    programme_id: str
    year: int
    recorded_run: int
    recorded_rule_version: int
    recompute: bool = Field(description="各项是否按现在所知的事件重新计算")
    refolded: bool = Field(description="各项是否重新计算(recompute,或所试规则含已记录考评未列的考评项)")
    rules: EvaluationRules = Field(description="测算所用的权重与等次分数线")
    units: list[WhatIfUnit] = Field(description="测算结果,按测算名次排列(不记录)")

    @classmethod
    def of(
        cls,
        recorded: YearEndEvaluationRecorded,
        rules: EvaluationRules,
        units: list[UnitScore],
        recompute: bool,
        refolded: bool,
    ) -> WhatIfAnswer:
        before = {u.unit_id: u for u in recorded.units}
        answers = [
            WhatIfUnit(**UnitAnswer.of(u).model_dump(), recorded_rank=before[u.unit_id].rank if u.unit_id in before
                       else None, recorded_score=before[u.unit_id].score if u.unit_id in before else None)
            for u in units
        ]  # fmt: skip
        return cls(programme_id=recorded.programme_id, year=recorded.year, recorded_run=recorded.run,
                   recorded_rule_version=recorded.rule_version, recompute=recompute, refolded=refolded, rules=rules,
                   units=answers)  # fmt: skip
