"""Rule data of issue coordination: the working-day calendar (工作日历) and the deadline and escalation rules.

Both are versioned data with effective dates that hq publishes (aggregates `work_calendar` and `issue_rule_set`).
A deadline records the rule and calendar versions it was computed with, so a later version never moves it.

Strict numbers and closed shapes: rule data is typed by people, and `"5"` for a number of days is a mistake to
refuse rather than to guess at.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from shared.catalogue.dates import IsoDate
from shared.catalogue.registry import event

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
WorkingDays = Annotated[StrictInt, Field(ge=1, le=250)]

# The values of the issue's category, priority and level (shared.catalogue.issue_coordination names them).
CategoryName = Literal[
    "land", "planning", "environment", "approval", "funding", "financing", "labour", "utilities", "relocation", "other"
]
PriorityName = Literal["normal", "urgent"]
EscalationLevelName = Literal["hq", "leader", "mayor"]  # the steps above the lead unit, in this order


class CalendarDays(BaseModel):
    """One version of the working-day calendar: which days are worked and when a working day ends.

    A day is a working day unless it is a weekly rest day (周末) or a holiday (法定节假日放假); a make-up working day
    (调休上班, e.g. Saturday 2026-10-10) is worked whatever its weekday. A working day ends at `workday_end` (China
    time): that is the moment a deadline of N working days falls on."""

    model_config = ConfigDict(extra="forbid")

    rest_weekdays: list[Annotated[StrictInt, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [6, 7], max_length=6, description="每周休息日(1=周一 ... 7=周日)"
    )
    holidays: list[IsoDate] = Field(default_factory=list, max_length=2000, description="放假日(法定节假日及调休放假)")
    make_up_working_days: list[IsoDate] = Field(
        default_factory=list, max_length=500, description="调休上班日(周末上班)"
    )
    workday_end_hour: StrictInt = Field(default=18, ge=0, le=23, description="工作日结束时刻:时(北京时间)")
    workday_end_minute: StrictInt = Field(default=0, ge=0, le=59, description="工作日结束时刻:分")

    @model_validator(mode="after")
    def _days_are_one_or_the_other(self) -> CalendarDays:
        both = sorted(set(self.holidays) & set(self.make_up_working_days))
        if both:
            raise ValueError(f"{both[0].isoformat()} 不能既是放假日又是调休上班日")
        if len(set(self.rest_weekdays)) != len(self.rest_weekdays):
            raise ValueError("rest_weekdays 不能重复")
        return self


class DeadlineRule(BaseModel):
    """Working days to resolve an issue of a category and/or priority; `None` matches any."""

    model_config = ConfigDict(extra="forbid")

    category: CategoryName | None = Field(default=None, description="问题类别;不填则适用于所有类别")
    priority: PriorityName | None = Field(default=None, description="紧急程度;不填则适用于所有紧急程度")
    working_days: WorkingDays = Field(description="办理时限(工作日)")

    @model_validator(mode="after")
    def _names_something(self) -> DeadlineRule:
        if self.category is None and self.priority is None:
            raise ValueError("category 和 priority 至少填一个(都不填的时限即 default_working_days)")
        return self


class EscalationStep(BaseModel):
    """One rung of the ladder above the lead unit, with the working days it has to resolve the issue."""

    model_config = ConfigDict(extra="forbid")

    level: EscalationLevelName = Field(description="升级到的层级:hq 指挥部办公室,leader 包保市领导,mayor 市长")
    working_days: WorkingDays = Field(description="该层级的办理时限(工作日)")


def _default_deadlines() -> list[DeadlineRule]:
    return [
        DeadlineRule(priority="urgent", working_days=3),
        DeadlineRule(category="relocation", working_days=15),
        DeadlineRule(category="land", working_days=15),
        DeadlineRule(category="relocation", priority="urgent", working_days=5),
    ]


def _default_ladder() -> list[EscalationStep]:
    return [
        EscalationStep(level="hq", working_days=5),
        EscalationStep(level="leader", working_days=5),
        EscalationStep(level="mayor", working_days=10),
    ]


class IssueRules(BaseModel):
    """Deadline rules, the escalation ladder (逐级上报) and the 督办 reminder cadence (催办) of one rule version.

    The deadline of an assignment is the `working_days` of the most specific rule matching the issue (category and
    priority, then category, then priority), else `default_working_days`. Unresolved at its deadline, an issue
    climbs one rung of `escalation` at a time; `mayor_org_id` names the mayor's organisation (市长). An open
    supervision order is reminded every `reminder_every_days` calendar days (a reminder is a nudge, due on a holiday
    as on any day; calendar days keep the cadence the platform had before it became rule data)."""

    model_config = ConfigDict(extra="forbid")

    default_working_days: WorkingDays = Field(default=10, description="默认办理时限(工作日)")
    deadlines: list[DeadlineRule] = Field(default_factory=_default_deadlines, max_length=100)
    escalation: list[EscalationStep] = Field(default_factory=_default_ladder, min_length=1, max_length=3)
    mayor_org_id: Slug = Field(default="mayor", description="市长所在组织的 id")
    reminder_every_days: StrictInt = Field(
        default=3, ge=1, le=60,
        description="督办单自动催办周期(自然日,含节假日):上次自动催办到期后满此天数再催办;按催办当日生效的规则版本",
    )  # fmt: skip

    @model_validator(mode="after")
    def _consistent(self) -> IssueRules:
        keys = [(r.category, r.priority) for r in self.deadlines]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise ValueError(f"deadlines[{i}]: 与前面的规则类别和紧急程度相同")
        order = ["hq", "leader", "mayor"]
        levels = [order.index(step.level) for step in self.escalation]
        if levels != sorted(set(levels)):
            raise ValueError("escalation: 层级须按 hq、leader、mayor 的顺序且不重复")
        return self


# -- events: a version of each is published by hq (or seeded), never changed -------------------------------------


@event("CalendarVersionPublished", aggregate="work_calendar")
class CalendarVersionPublished(BaseModel):
    """A whole calendar, in force from `effective_from` on (for deadlines that start then; never for earlier ones)."""

    version: int = Field(ge=1)
    effective_from: IsoDate
    days: CalendarDays
    note: str = ""


@event("IssueRulesPublished", aggregate="issue_rule_set")
class IssueRulesPublished(BaseModel):
    """Deadline, escalation and reminder rules, in force from `effective_from` on (for deadlines that start then and
    for the reminder runs of that day on)."""

    version: int = Field(ge=1)
    effective_from: IsoDate
    rules: IssueRules
    note: str = ""
