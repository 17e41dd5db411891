"""Contact points, preferences and subscriptions: one row per organisation (its folded `subscription` state), which
commands load, the API answers from and routing reads subscribers from."""

from __future__ import annotations

from services.notification.domain_subscriptions import SubscriptionState, evolve_subscription
from shared.aggregate_table import AggregateTable, envelope_fold

SUBSCRIPTIONS = AggregateTable("subscriptions", "subscription", SubscriptionState, envelope_fold(evolve_subscription))
