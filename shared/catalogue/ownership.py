"""Which service owns which aggregate types, and which consumer groups it runs: the single source of truth.

Only the owner of an aggregate type may append its events, so every NATS user's publish permissions, the deploy
files and `make run`'s generated server configuration derive from this table (shared/devstack/nats_config.py);
the consumer groups name the durable consumers a service may create and read (shared/names.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from shared.names import PROJECTION_GROUP


@dataclass(frozen=True)
class ServiceGrant:
    aggregates: frozenset[str]
    consumer_groups: tuple[str, ...]


SERVICES: dict[str, ServiceGrant] = {
    "intake": ServiceGrant(
        frozenset({"project", "project_code", "programme", "organisation", "change_request", "attachment"}),
        (PROJECTION_GROUP, "change_requests"),
    ),
    "scheduling": ServiceGrant(
        frozenset({"plan", "rule_set", "dispatch_meeting", "monitoring", "light"})
        | {"evaluation_rule_set", "year_end_evaluation"},  # the year-end evaluation (docs/adr/0032)
        (PROJECTION_GROUP, "light_reevaluation", "milestone_completion", "change_requests"),
    ),
    "issue_coordination": ServiceGrant(
        frozenset({"issue", "supervision_order", "work_calendar", "issue_rule_set"}),
        (PROJECTION_GROUP, "meeting_decisions"),
    ),
    "notification": ServiceGrant(
        frozenset({"inbox", "delivery", "subscription", "routing_rule_set"}),
        (PROJECTION_GROUP, "notifications", "delivery"),
    ),
    # audit indexes every event (its projection) and appends only its seals (docs/adr/0029, 0030).
    "audit": ServiceGrant(frozenset({"seal"}), (PROJECTION_GROUP,)),
}


def access_aggregate(service: str) -> str:
    """The aggregate type on which `service` records the auditors' reads it serves (AuditorAccessRecorded,
    docs/adr/0033): one per service, so that no service needs another's publish rights nor contends with it."""
    return f"{service}_access"


# Every service (the ones above and any added later) owns its own access-log aggregate type.
SERVICES = {
    name: dataclasses.replace(grant, aggregates=grant.aggregates | {access_aggregate(name)})
    for name, grant in SERVICES.items()
}


def own_aggregates(service: str) -> frozenset[str] | None:
    """The aggregate types `service` appends; None for a name this table does not know (a test's consumer)."""
    grant = SERVICES.get(service)
    return None if grant is None else grant.aggregates


def owner_of(aggregate_type: str) -> str:
    """The service that may append events of `aggregate_type`; KeyError if none does."""
    for service, grant in SERVICES.items():
        if aggregate_type in grant.aggregates:
            return service
    raise KeyError(aggregate_type)
