"""One catalogue of every event in the platform; importing this package registers them all."""

from shared.catalogue import (
    access,
    audit,
    identity,
    intake,
    issue_coordination,
    issue_rules,
    notification,
    notification_delivery,
    scheduling,
    year_end,
)
from shared.catalogue.registry import CATALOGUE, Catalogue, UnknownEventType

__all__ = [
    "CATALOGUE", "Catalogue", "UnknownEventType", "access", "audit", "identity", "intake", "issue_coordination",
    "issue_rules", "notification", "notification_delivery", "scheduling", "year_end",
]  # fmt: skip
