"""What hq sends to publish a calendar or rule version (`...Body`, validated field by field), and the commands."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from shared.catalogue.dates import IsoDate
from shared.catalogue.issue_rules import IssueRules

Note = Annotated[str, Field(max_length=1000)]


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
