"""Warning rules as data (规则版本), free of I/O: versions with effective dates, and publishing a new one."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from services.scheduling.commands import PublishRules
from services.scheduling.domain import Recorded
from shared.catalogue import CATALOGUE
from shared.catalogue.scheduling import Rules, RuleVersionPublished
from shared.domain_errors import invalid


class RuleSetState(BaseModel):
    versions: list[RuleVersionPublished] = Field(default_factory=list)

    def applicable(self, day: date) -> RuleVersionPublished | None:
        candidates = [v for v in self.versions if v.effective_from <= day]
        return max(candidates, key=lambda v: (v.effective_from, v.version)) if candidates else None

    def get(self, version: int) -> RuleVersionPublished | None:
        return next((v for v in self.versions if v.version == version), None)


def evolve_rule_set(state: RuleSetState | None, event: Recorded) -> RuleSetState:
    p = CATALOGUE.payload_of(event)
    assert isinstance(p, RuleVersionPublished)
    return RuleSetState(versions=[*(state.versions if state else []), p])


DEFAULT_RULES_NOTE = "默认规则(低于序时进度 10/30 个百分点;每周五 17:00 前填报本周进度)"


def decide_publish_rules(state: RuleSetState | None, cmd: PublishRules) -> RuleVersionPublished:
    versions = state.versions if state else []
    rules = cmd.rules
    if rules.red_points_behind < rules.yellow_points_behind:
        raise invalid("rules.red_points_behind", "不能小于 yellow_points_behind")
    if rules.late_start_red_months < rules.late_start_yellow_months:
        raise invalid("rules.late_start_red_months", "不能小于 late_start_yellow_months")
    if rules.report_late_red_days < rules.report_late_yellow_days:
        raise invalid("rules.report_late_red_days", "不能小于 report_late_yellow_days")
    if rules.report_missing_red_weeks < rules.report_missing_yellow_weeks:
        raise invalid("rules.report_missing_red_weeks", "不能小于 report_missing_yellow_weeks")
    return RuleVersionPublished(
        version=len(versions) + 1, effective_from=cmd.effective_from, rules=rules, note=cmd.note
    )


def decide_default_rules(state: RuleSetState | None) -> RuleVersionPublished | None:
    """Rule version 1 (the defaults), unless a version is published already: then there is nothing to do."""
    if state is not None and state.versions:
        return None
    return decide_publish_rules(
        state, PublishRules(effective_from=date(2000, 1, 1), rules=Rules(), note=DEFAULT_RULES_NOTE)
    )
