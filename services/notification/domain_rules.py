"""Routing rule versions as one aggregate (`routing_rule_set`, id `default`): fold, publish, pick the version in
force, route an event. Pure.

Its events are its versions, numbered 1, 2, ... in publishing order; a version is never changed. The version in
force for a source event is the one with the latest `effective_from` on or before the event's day (China time),
the later published among equals. Version 1 holds the defaults and is in force from DEFAULT_EFFECTIVE_FROM on.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from pydantic import BaseModel, Field

from services.notification.commands import PublishRoutingRules
from shared.catalogue.notification import RoutingRulesPublished
from shared.catalogue.notification_rules import RoutingRule, RoutingRules
from shared.domain_errors import invalid

RULE_SET_ID = "default"
DEFAULT_EFFECTIVE_FROM = date(2000, 1, 1)
DEFAULT_RULES_NOTE = (
    "默认路由规则(问题交办、临期、升级、督办、催办、督办临期、节点临期与逾期、未按期填报、红黄灯、变更申请、"
    "调度会、议定事项)"
)


class RoutingRuleSetState(BaseModel):
    versions: list[RoutingRulesPublished] = Field(default_factory=list)

    def in_force(self, day: date) -> RoutingRulesPublished | None:
        candidates = [v for v in self.versions if v.effective_from <= day]
        if not candidates:
            return None
        return max(candidates, key=lambda v: (v.effective_from, v.version))


def evolve_rule_set(state: RoutingRuleSetState | None, _: object, published: BaseModel | None) -> RoutingRuleSetState:
    assert isinstance(published, RoutingRulesPublished)
    return RoutingRuleSetState(versions=[*(state.versions if state else []), published])


def decide_publish(
    state: RoutingRuleSetState | None, cmd: PublishRoutingRules, routable: Collection[str]
) -> RoutingRulesPublished:
    """A new version; every rule must name an event type the service can route (`routable`)."""
    for i, rule in enumerate(cmd.rules):
        if rule.event_type not in routable:
            raise invalid(f"rules[{i}].event_type", f"不支持的事件类型 {rule.event_type}")
    versions = state.versions if state else []
    return RoutingRulesPublished(
        version=len(versions) + 1, effective_from=cmd.effective_from, rules=RoutingRules(rules=cmd.rules),
        note=cmd.note,
    )  # fmt: skip


def decide_default_rules(state: RoutingRuleSetState | None) -> RoutingRulesPublished | None:
    """Version 1 (the defaults), unless a version is published already."""
    if state is not None and state.versions:
        return None
    return RoutingRulesPublished(
        version=1, effective_from=DEFAULT_EFFECTIVE_FROM, rules=RoutingRules(), note=DEFAULT_RULES_NOTE
    )


def matching_rules(version: RoutingRulesPublished, event_type: str, payload: dict[str, object]) -> list[RoutingRule]:
    return [rule for rule in version.rules.rules if rule.matches(event_type, payload)]
