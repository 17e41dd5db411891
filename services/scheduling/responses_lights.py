"""What scheduling's operations on lights, rules, monitoring, the weekly cadence and the clock answer, as
documented types (shared.responses).

A light answer is the recorded `StatusLightChanged` itself (reasons and rule version as they were) plus its colour's
name and the reasons of the dimensions that are not green; the current light, the light as shown on a day and an
entry of the history are siblings, so that one never passes for another. Monitoring items are the recorded flags
as they were written (`extra="allow"`: fields of an older version of a flag are shown, never trimmed).
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from shared.catalogue.intake import Category, Phase
from shared.catalogue.scheduling import (
    Colour,
    DimensionLight,
    MilestoneDueSoonFlagged,
    MilestoneOverdueFlagged,
    MonitoringCompleted,
    ReportOverdueFlagged,
    ReportWeek,
    ReportWeekStatus,
    RuleVersionPublished,
    StatusLightChanged,
)
from shared.paging import Page
from shared.responses import ANSWER_CONFIG, Answer

RECORDED_ITEM = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)


class _PublicLight(StatusLightChanged):
    model_config = ANSWER_CONFIG
    colour_name: str = Field(description="灯色名称:红灯、黄灯、绿灯")
    reasons: list[str] = Field(description="原因:非绿色维度的原因")


class LightAnswer(_PublicLight):
    """A project's current light, its reasons and the rule version it was judged under."""


class LightShownAnswer(_PublicLight):
    """The light a project showed on a day (`as_shown_on`): the light event recorded then, never recomputed."""

    as_shown_on: date = Field(description="所示日期")
    seq: int = Field(ge=1, description="该灯色事件的流序号")
    recorded_at: datetime = Field(description="记录时间")


class LightHistoryEntry(_PublicLight):
    """A light as recorded when its colour or its reasons changed."""

    seq: int = Field(ge=1, description="该灯色事件的流序号")
    recorded_at: datetime = Field(description="记录时间")


class ProjectLight(Answer):
    """A project in the lights overview, with its current light (null: not evaluated yet)."""

    project_id: str = Field(description="项目编号")
    name: str = Field(description="项目名称")
    category: Category = Field(description="类别")
    unit_id: str = Field(description="责任单位编号")
    sponsor_leader_id: str | None = Field(description="包保市领导编号")
    phase: Phase = Field(description="阶段")
    light: LightAnswer | None = Field(description="当前灯色(尚未评价为 null)")


class WhatIfAnswer(Answer):
    """A light computed under a given rule version and day, not recorded."""

    project_id: str = Field(description="项目编号")
    as_of: date = Field(description="评价日期")
    colour: Colour = Field(description="灯色")
    rule_version: int = Field(ge=1, description="所用规则版本")
    spi: float | None = Field(description="进度绩效指数")
    points_behind: float | None = Field(description="落后序时进度的百分点")
    exemptions_applied: list[str] = Field(description="适用的豁免编号")
    recorded: Literal[False] = Field(description="假设分析不记录")
    milestones: DimensionLight = Field(description="节点维度")
    investment: DimensionLight = Field(description="投资维度")
    reporting: DimensionLight = Field(description="报送维度")
    issues: DimensionLight | None = Field(description="问题维度")
    investment_completion_pct: float | None = Field(description="投资完成率(%)")
    time_progress_pct: float | None = Field(description="序时进度(%)")
    report_weeks: list[ReportWeek] = Field(description="决定报送灯色的各周")


class LightKnownAnswer(WhatIfAnswer):
    """The light of a past day D as now known (`as_known_for`): D recomputed from everything recorded up to now
    (late reports, corrections), under the rule version in force on D among those published by the end of D."""

    as_known_for: date = Field(description="评价日期 D(按现在所知重新计算,不记录)")
    known_at: datetime = Field(description="所知截至时刻(平台当前时间)")
    rules_known_by: datetime = Field(description="规则版本以该时刻(D 日结束)前发布者为准")


class LightAsOfAnswer(_PublicLight):
    """The light on record at a moment (`as_of`, record time): the light aggregate folded from the log."""

    as_of_moment: datetime = Field(description="历史时刻(记录时间)")
    seq: int = Field(ge=1, description="该时刻最后一个灯色事件的流序号")
    recorded_at: datetime = Field(description="该灯色的记录时间")


class RuleVersionAnswer(RuleVersionPublished):
    """A version of the warning rules (规则版本) with the day it takes effect."""

    model_config = ANSWER_CONFIG


class MonitoringRunAnswer(Answer):
    """A monitoring run: what it emitted, and the log's position after it (for `min_seq`)."""

    day: date = Field(description="监测日期")
    items_emitted: int = Field(ge=0, description="本次产生的监测事项数")
    lights_changed: int = Field(ge=0, description="本次变化的灯色数")
    already_complete: bool = Field(description="当日例行监测此前已完成")
    rerun: bool = Field(description="按现有数据重新评价")
    seq: int = Field(ge=0, description="事件流最后序号(读操作可带 min_seq 等待)")


class DueSoonItem(MilestoneDueSoonFlagged):
    model_config = RECORDED_ITEM
    kind: Literal["MilestoneDueSoonFlagged"] = Field(description="节点临期")


class OverdueItem(MilestoneOverdueFlagged):
    model_config = RECORDED_ITEM
    kind: Literal["MilestoneOverdueFlagged"] = Field(description="节点逾期")


class ReportOverdueItem(ReportOverdueFlagged):
    model_config = RECORDED_ITEM
    kind: Literal["ReportOverdueFlagged"] = Field(description="逾期未报")


class CompletedItem(MonitoringCompleted):
    model_config = RECORDED_ITEM
    kind: Literal["MonitoringCompleted"] = Field(description="当日监测完成")


MonitoringItem = Annotated[DueSoonItem | OverdueItem | ReportOverdueItem | CompletedItem, Field(discriminator="kind")]


class MonitoringDayAnswer(Answer):
    """A monitoring day's items in the order they were emitted (of the caller's projects)."""

    day: date = Field(description="监测日期")
    id: str = Field(description="监测日编号")
    items: list[MonitoringItem] = Field(description="监测事项")


class MissingReportItem(Answer):
    """A project that has not reported the week by its deadline (or reported late, or not yet before it)."""

    project_id: str = Field(description="项目编号")
    project_name: str = Field(description="项目名称")
    programme_id: str = Field(description="年度重点项目批次编号")
    category: Category = Field(description="类别")
    unit_id: str = Field(description="责任单位编号")
    unit_name: str = Field(description="责任单位名称")
    sponsor_leader_id: str | None = Field(description="包保市领导编号")
    status: ReportWeekStatus = Field(description="missing 逾期未报、late 逾期补报、pending 截止前尚未填报")
    recorded_at: datetime | None = Field(description="逾期补报的记录时间")
    last_period_end: date | None = Field(description="该周或之前最后一次填报的周期截止日")


class UnitMissingCount(Answer):
    unit_id: str = Field(description="责任单位编号")
    unit_name: str = Field(description="责任单位名称")
    projects: int = Field(ge=0, description="列出的项目数")
    not_reported: int = Field(ge=0, description="其中未报的项目数")


class MissingReportsPage(Page[MissingReportItem]):
    """本周未报: a page of the projects, with the week, its deadline and the counts by unit."""

    week: str = Field(description="ISO 周,如 2026-W48")
    deadline: datetime = Field(description="填报截止时间")
    deadline_passed: bool = Field(description="截止时间是否已过")
    rule_version: int = Field(ge=1, description="所用规则版本")
    units: list[UnitMissingCount] = Field(description="按责任单位统计")


class ClockAnswer(Answer):
    """The platform clock (development mode)."""

    now: datetime = Field(description="平台当前时间")
    china_time: datetime = Field(description="北京时间")
    date: dt.date = Field(description="平台当日(北京时间)")
    simulated: bool = Field(description="是否为模拟时间")
    offset_seconds: float = Field(description="相对真实时间的偏移(秒)")
