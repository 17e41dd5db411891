"""What hq sends to publish a calendar or rule version (`...Body`, validated field by field), and the commands."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from shared.catalogue.dates import IsoDate
from shared.catalogue.issue_rules import EscalationLevelName, IssueRules
from shared.command_bodies import PathId

Note = Annotated[str, Field(max_length=1000)]
Reason = Annotated[str, Field(min_length=2, max_length=2000)]
EscalationLevel = EscalationLevelName


class PublishCalendarBody(BaseModel):
    """A calendar version. The days it lists replace those of the latest version in the same years; with
    `keep_other_years` (the default) that version's days of the other years are kept, so publishing next year's
    arrangements (国务院办公厅节假日安排) lists only next year's days."""

    model_config = ConfigDict(extra="forbid")

    effective_from: IsoDate = Field(description="生效日期:此日起开始计算的期限使用本版本")
    holidays: list[IsoDate] = Field(default_factory=list, max_length=500, description="放假日(含调休放假)")
    make_up_working_days: list[IsoDate] = Field(default_factory=list, max_length=200, description="调休上班日")
    rest_weekdays: list[Annotated[StrictInt, Field(ge=1, le=7)]] | None = Field(
        default=None, max_length=6, description="每周休息日(1=周一 ... 7=周日);不填沿用上一版本(默认周六、周日)"
    )
    workday_end_hour: StrictInt | None = Field(default=None, ge=0, le=23, description="工作日结束时刻:时;不填沿用")
    workday_end_minute: StrictInt | None = Field(default=None, ge=0, le=59, description="工作日结束时刻:分;不填沿用")
    keep_other_years: StrictBool = Field(default=True, description="保留上一版本中本次未涉及年份的放假和调休安排")
    note: Note = ""


class PublishCalendar(PublishCalendarBody):
    pass


class PublishIssueRulesBody(BaseModel):
    """A rule version: deadlines per category and priority, the escalation ladder, the mayor's organisation."""

    model_config = ConfigDict(extra="forbid")

    effective_from: IsoDate = Field(description="生效日期:此日起开始计算的期限使用本版本")
    rules: IssueRules
    note: Note = ""


class PublishIssueRules(PublishIssueRulesBody):
    pass


# -- escalation --------------------------------------------------------------------------------------------------


class EscalateBody(BaseModel):
    """hq escalates an issue by hand to the next rung of the ladder (逐级上报), with its reason."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Reason = Field(description="升级理由")
    to_level: EscalationLevel | None = Field(
        default=None,
        description="升级到的层级(hq、leader、mayor);不填为下一层级。填写时须正是下一层级,重试因此不会再升一级",
    )


class Escalate(EscalateBody):
    issue_id: PathId


class RunEscalationsBody(BaseModel):
    """Run the escalation for a day (default today): every open issue overdue by then climbs one rung."""

    model_config = ConfigDict(extra="forbid")

    day: IsoDate | None = Field(default=None, description="日期(默认平台今天;不能晚于平台今天)")
