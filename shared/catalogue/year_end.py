"""The year-end evaluation (综合成效考评), owned by scheduling: its rule versions (aggregate `evaluation_rule_set`)
and each recorded run for a programme year (aggregate `year_end_evaluation`, id `<programme_id>-<year>`).

A recorded run lists, per unit, its score, its grade, its rank and every part with the events behind it, and names
the rule version it used: what was shown is never recomputed under later rules (docs/adr/0032).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictInt, model_validator

from shared.catalogue.dates import IsoDate
from shared.catalogue.registry import event

Weight = Annotated[StrictInt, Field(ge=0, le=100)]
Points = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
# A part's weighted score: negative for a deduction (扣分项), so that the parts still add up to the score.
SignedPoints = Annotated[Decimal, Field(ge=-100, le=100, max_digits=5, decimal_places=2)]


class Part(StrEnum):
    """What a score is made of: the four parts every rule version weighs (weight 0 leaves one out), and the
    indicators a rule version may add from this catalogue (what the log supports, docs/adr/0037)."""

    INVESTMENT = "investment_completion"  # 投资完成率:本年完成投资 / 年度计划投资
    MILESTONES = "milestones_on_time"  # 节点按期完成率
    ISSUES = "issues_resolved_on_time"  # 问题按期办结率
    REPORTS = "reports_on_time"  # 进度按时填报率
    # Added by a rule version, weighed like the four (a rate):
    SUPERVISION = "supervision_orders_on_time"  # 督办按期整改办结率
    DECISIONS = "meeting_decisions_on_time"  # 调度会议定事项按期完成率
    # Added by a rule version as a deduction (points per item, at most a cap):
    RED_WEEKS = "red_weeks"  # 红灯周数扣分


CORE_PARTS: tuple[Part, ...] = (Part.INVESTMENT, Part.MILESTONES, Part.ISSUES, Part.REPORTS)
RATE_PARTS: tuple[Part, ...] = (*CORE_PARTS, Part.SUPERVISION, Part.DECISIONS)
DEDUCTION_PARTS: tuple[Part, ...] = (Part.RED_WEEKS,)

PART_LABELS: dict[Part, str] = {
    Part.INVESTMENT: "投资完成率", Part.MILESTONES: "节点按期完成率", Part.ISSUES: "问题按期办结率",
    Part.REPORTS: "进度按时填报率", Part.SUPERVISION: "督办按期整改办结率", Part.DECISIONS: "议定事项按期完成率",
    Part.RED_WEEKS: "红灯周数扣分",
}  # fmt: skip


class Grade(StrEnum):
    EXCELLENT = "excellent"  # 优秀
    GOOD = "good"  # 良好
    PASS = "pass"  # 合格
    FAIL = "fail"  # 不合格


GRADE_LABELS: dict[Grade, str] = {Grade.EXCELLENT: "优秀", Grade.GOOD: "良好", Grade.PASS: "合格", Grade.FAIL: "不合格"}


DEFAULT_WEIGHTS: dict[Part, int] = {Part.INVESTMENT: 40, Part.MILESTONES: 30, Part.ISSUES: 15, Part.REPORTS: 15}


class Weights(RootModel[dict[Part, Weight]]):
    """Weight of every part in points (each part named once): the four always, an added rate indicator when the
    rule version adds it; they add up to 100, the score is out of 100 (before deductions)."""

    root: dict[Part, Weight] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="各项权重(分),四项齐全,可增加 supervision_orders_on_time、meeting_decisions_on_time,"
        '之和为 100,如 {"investment_completion": 40, ...}',
    )

    @model_validator(mode="after")
    def _every_part_adding_up_to_100(self) -> Weights:
        missing = [part.value for part in CORE_PARTS if part not in self.root]
        if missing:
            raise ValueError(f"缺少 {', '.join(missing)} 的权重")
        deductions = [part.value for part in self.root if part in DEDUCTION_PARTS]
        if deductions:
            raise ValueError(f"{', '.join(deductions)} 为扣分项,须在 deductions 中设置")
        total = sum(self.root.values())
        if total != 100:
            raise ValueError(f"各项权重之和须为 100(现为 {total})")
        return self

    def of(self, part: Part) -> int:
        return self.root.get(part, 0)

    @property
    def parts(self) -> list[Part]:
        """The rate parts weighed, in catalogue order."""
        return [part for part in RATE_PARTS if part in self.root]


class Deduction(BaseModel):
    """A deduction (扣分项): `points_each` per item counted (e.g. a week a project spent red), at most `at_most`."""

    model_config = ConfigDict(extra="forbid")

    points_each: Points = Field(gt=0, description="每项扣分")
    at_most: Points = Field(gt=0, description="扣分上限")


class Deductions(RootModel[dict[Part, Deduction]]):
    root: dict[Part, Deduction] = Field(
        default_factory=dict, description='扣分项(可选),如 {"red_weeks": {"points_each": "0.5", "at_most": "5"}}'
    )

    @model_validator(mode="after")
    def _only_deduction_parts(self) -> Deductions:
        rates = [part.value for part in self.root if part not in DEDUCTION_PARTS]
        if rates:
            raise ValueError(f"{', '.join(rates)} 不是扣分项,须在 weights 中设置")
        return self

    @property
    def parts(self) -> list[Part]:
        return [part for part in DEDUCTION_PARTS if part in self.root]


class Thresholds(BaseModel):
    """The lowest score of each grade; below `passing` is 不合格."""

    model_config = ConfigDict(extra="forbid")

    excellent: Points = Field(default=Decimal(90), description="优秀最低分")
    good: Points = Field(default=Decimal(80), description="良好最低分")
    passing: Points = Field(default=Decimal(60), description="合格最低分")

    @model_validator(mode="after")
    def _descending(self) -> Thresholds:
        if not self.excellent > self.good > self.passing:
            raise ValueError("须满足 excellent > good > passing")
        return self


class EvaluationRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: Weights = Field(default_factory=Weights)
    deductions: Deductions = Field(default_factory=Deductions)
    thresholds: Thresholds = Field(default_factory=Thresholds, description="等次分数线(优秀/良好/合格)")

    @property
    def parts(self) -> list[Part]:
        """The parts a score under these rules lists: the rate parts weighed, then the deductions."""
        return [*self.weights.parts, *self.deductions.parts]


@event("EvaluationRulesPublished", aggregate="evaluation_rule_set")
class EvaluationRulesPublished(BaseModel):
    version: int = Field(ge=1)
    effective_from: IsoDate
    rules: EvaluationRules
    note: str = ""


class EventRef(BaseModel):
    """One event behind a part: its id (GET /v1/audit/events/{id}), stream sequence and type."""

    id: str
    seq: int
    type: str


class PartScore(BaseModel):
    part: Part
    counted: int = Field(description="计入的事项数(投资一项为计入的填报数;红灯周数为红灯周数)")
    numerator: Decimal = Field(description="分子:按期(按时)事项数;投资一项为本年完成额;红灯周数为红灯周数")
    denominator: Decimal = Field(description="分母:应计事项数;投资一项为年度计划额;红灯周数为有灯色的周数")
    value: Points = Field(description="得分率(百分数,两位小数;无应计事项按满分);扣分项为所扣分数")
    weight: Weight = Field(description="权重(分);扣分项为 0")
    weighted: SignedPoints = Field(description="加权得分 = value × weight / 100;扣分项为负的扣分")
    events: list[EventRef] = Field(default_factory=list, description="本项依据的事件")


class UnitScore(BaseModel):
    unit_id: str
    score: Points
    grade: Grade
    rank: int = Field(ge=1)
    project_ids: list[str]
    parts: list[PartScore]


@event("YearEndEvaluationRecorded", aggregate="year_end_evaluation")
class YearEndEvaluationRecorded(BaseModel):
    """One run of the year-end evaluation of a programme year: every unit's score as shown from now on."""

    run: int = Field(ge=1)
    programme_id: str
    year: int
    as_of: IsoDate = Field(description="考评截止日:只计该日结束前记录的事件")
    known_at: datetime
    rule_version: int = Field(ge=1)
    rules: EvaluationRules
    reporting_rule_version: int | None = Field(default=None, description="考评截止日生效的预警规则版本")
    reporting_rule_versions: list[int] = Field(
        default_factory=list, description="判定各周填报截止时间所用的预警规则版本(每周按该周生效的版本)"
    )
    units: list[UnitScore]
