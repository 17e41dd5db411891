"""Routing rules of the notification service as data: event type (and simple conditions on its payload) ->
recipients -> urgency. hq publishes whole versions with an effective date (`RoutingRulesPublished`); a
notification records the rule and version that routed it.

Conditions compare a payload field's value, written as text (an enum's value, a number's digits), with a list of
values: `{"field": "colour", "values": ["red"]}`, or `"negated": true` for a value none of those (a light that turned
red: its `previous_colour` is not red). A repeating flag (a milestone overdue day after day) is routed once
and then every `remind_every` counts of `count_field`, not once a day.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
FieldName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,63}$")]


class Urgency(StrEnum):
    INFO = "info"  # 提示
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急
    CRITICAL = "critical"  # 特急(免打扰时段也送达)


class Recipient(StrEnum):
    """Whom a rule addresses, resolved from facts the notification service folds (project directory, issues,
    supervision orders, meetings, organisations, subscriptions)."""

    PROJECT_UNIT = "project_unit"  # 项目责任单位
    SPONSOR = "sponsor"  # 包保市领导
    HQ = "hq"  # 指挥部办公室(每个 hq 机构)
    SUPERVISION = "supervision"  # 督查室
    LEAD_UNIT = "lead_unit"  # 问题的首接负责单位
    CO_HANDLERS = "co_handlers"  # 问题的协办单位
    ESCALATION_TARGET = "escalation_target"  # 问题升级到的层级的机构
    ORDER_TARGET = "order_target"  # 督办对象单位
    DECISION_OWNER = "decision_owner"  # 议定事项的落实单位
    MEETING_ORGS = "meeting_orgs"  # 调度会的召集单位、主持领导和议程涉及的单位
    SUBSCRIBERS = "subscribers"  # 订阅了该类事件的机构


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: FieldName = Field(description="事件内容中的字段名,如 colour、days_left")
    values: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20, description="字段取值(文字形式)之一即满足"
    )
    # Added later (optional: conditions published without it mean what they meant).
    negated: bool = Field(default=False, description="为 true 时反过来:字段取值不是所列之一(或没有该字段)才满足")

    def holds(self, payload: dict[str, object]) -> bool:
        return (_text(payload.get(self.field)) in self.values) != self.negated


class RoutingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: Slug = Field(description="规则编号")
    event_type: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]{2,63}$")] = Field(description="事件类型")
    conditions: list[Condition] = Field(default_factory=list, max_length=5, description="条件(全部满足)")
    recipients: list[Recipient] = Field(min_length=1, max_length=11, description="接收方")
    urgency: Urgency = Field(description="紧急程度:info 提示、normal 一般、urgent 紧急、critical 特急")
    # Added after the first version (optional: rules published without it still fold and route as before).
    person: Annotated[str, Field(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="接收机构内的具名联系人(与联系方式的 person 一致,如 联络员、秘书):先送达其联系方式,"
        "没有时送达机构本身的联系方式;空为机构本身",
    )
    count_field: FieldName | None = Field(default=None, description="重复提醒所数的字段(如 days_overdue)")
    remind_every: StrictInt | None = Field(default=None, ge=1, le=365, description="首次之后每隔几次提醒一次")

    @model_validator(mode="after")
    def _cadence_whole(self) -> RoutingRule:
        if (self.count_field is None) != (self.remind_every is None):
            raise ValueError("count_field 与 remind_every 须同时填写或同时不填")
        if len(set(self.recipients)) != len(self.recipients):
            raise ValueError("recipients 不能重复")
        return self

    def matches(self, event_type: str, payload: dict[str, object]) -> bool:
        if event_type != self.event_type:
            return False
        if not all(c.holds(payload) for c in self.conditions):
            return False
        if self.count_field is None or self.remind_every is None:
            return True
        count = payload.get(self.count_field)
        if not isinstance(count, int):
            return False
        return count <= 1 or (count - 1) % self.remind_every == 0


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


R = Recipient
U = Urgency
LIAISON = "联络员"  # the unit's named person who files its weekly reports (contact points name it so)


def _rule(rule_id: str, event_type: str, recipients: list[Recipient], urgency: Urgency, **extra: object) -> RoutingRule:
    return RoutingRule.model_validate(
        {"rule_id": rule_id, "event_type": event_type, "recipients": recipients, "urgency": urgency, **extra}
    )


def default_rules() -> list[RoutingRule]:
    """What issue 10 lists. Not here: the weekly digest to leaders (the delivery engine's timer)."""
    return [
        _rule("issue-assigned", "IssueAssigned", [R.LEAD_UNIT, R.CO_HANDLERS], U.NORMAL),
        _rule("issue-reassigned", "IssueReassigned", [R.LEAD_UNIT, R.CO_HANDLERS], U.NORMAL),
        _rule("issue-deadline-3", "IssueDeadlineNeared", [R.LEAD_UNIT, R.CO_HANDLERS], U.NORMAL,
              conditions=[{"field": "working_days_left", "values": ["3"]}]),
        _rule("issue-deadline-1", "IssueDeadlineNeared", [R.LEAD_UNIT, R.CO_HANDLERS], U.URGENT,
              conditions=[{"field": "working_days_left", "values": ["1"]}]),
        _rule("issue-escalated", "IssueEscalated", [R.ESCALATION_TARGET, R.LEAD_UNIT, R.PROJECT_UNIT], U.URGENT),
        _rule("issue-overdue", "IssueDeadlinePassed", [R.ESCALATION_TARGET, R.LEAD_UNIT, R.HQ], U.URGENT),
        _rule("supervision-order", "SupervisionOrderIssued", [R.ORDER_TARGET, R.SPONSOR], U.URGENT),
        _rule("supervision-reminder", "SupervisionOrderReminded", [R.ORDER_TARGET], U.URGENT),
        _rule("order-deadline-3", "SupervisionOrderDeadlineNeared", [R.ORDER_TARGET], U.NORMAL,
              conditions=[{"field": "working_days_left", "values": ["3"]}]),
        _rule("order-deadline-1", "SupervisionOrderDeadlineNeared", [R.ORDER_TARGET], U.URGENT,
              conditions=[{"field": "working_days_left", "values": ["1"]}]),
        _rule("milestone-due-soon", "MilestoneDueSoonFlagged", [R.PROJECT_UNIT], U.NORMAL,
              conditions=[{"field": "days_left", "values": ["3", "1"]}]),
        _rule("milestone-overdue", "MilestoneOverdueFlagged", [R.PROJECT_UNIT, R.SPONSOR], U.URGENT,
              count_field="days_overdue", remind_every=7),
        _rule("report-missing", "ReportOverdueFlagged", [R.PROJECT_UNIT], U.NORMAL, person=LIAISON),
        # A light "turned" red or yellow: from another colour or none. A light is recorded again whenever its
        # reasons' words change (a milestone a day later each day); a red project is not news every morning.
        _rule("light-red", "StatusLightChanged", [R.PROJECT_UNIT, R.SPONSOR, R.HQ, R.SUPERVISION, R.SUBSCRIBERS],
              U.URGENT,
              conditions=[{"field": "colour", "values": ["red"]},
                          {"field": "previous_colour", "values": ["red"], "negated": True}]),
        _rule("light-yellow", "StatusLightChanged", [R.PROJECT_UNIT, R.SUBSCRIBERS], U.NORMAL,
              conditions=[{"field": "colour", "values": ["yellow"]},
                          {"field": "previous_colour", "values": ["yellow"], "negated": True}]),
        _rule("change-approved", "ChangeRequestApproved", [R.PROJECT_UNIT], U.NORMAL),
        _rule("change-rejected", "ChangeRequestRejected", [R.PROJECT_UNIT], U.NORMAL),
        _rule("meeting-scheduled", "DispatchMeetingScheduled", [R.MEETING_ORGS], U.NORMAL),
        _rule("decision-assigned", "MeetingDecisionRecorded", [R.DECISION_OWNER], U.NORMAL),
    ]  # fmt: skip


class RoutingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RoutingRule] = Field(default_factory=default_rules, max_length=200)

    @model_validator(mode="after")
    def _ids_once(self) -> RoutingRules:
        ids = [r.rule_id for r in self.rules]
        for i, rule_id in enumerate(ids):
            if rule_id in ids[:i]:
                raise ValueError(f"rules[{i}].rule_id: 规则编号 {rule_id} 重复")
        return self
