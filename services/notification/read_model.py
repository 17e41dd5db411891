"""notification's read model: identities, the shared project directory, the inboxes and their notifications
(read_model_inbox.py), each organisation's contact points, preferences and subscriptions
(read_model_subscriptions.py), and the facts routing reads: other services' issues, supervision orders and
meetings, and the routing rule versions (read_model_facts.py)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notification.read_model_deliveries import DeliveryReadModel
from services.notification.read_model_facts import FactsReadModel
from services.notification.read_model_inbox import InboxReadModel
from services.notification.read_model_subscriptions import SUBSCRIPTIONS
from shared.auth import IdentityReadModel
from shared.eventstore import StoredEvent
from shared.project_directory import ProjectDirectory
from shared.runtime import CompositeReadModel


class SubscriptionReadModel:
    tables = (SUBSCRIPTIONS.table,)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(SUBSCRIPTIONS.ddl(schema))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await SUBSCRIPTIONS.apply(conn, schema, events)


def read_model() -> CompositeReadModel:
    return CompositeReadModel(
        [
            IdentityReadModel(),
            ProjectDirectory(),
            InboxReadModel(),
            SubscriptionReadModel(),
            FactsReadModel(),
            DeliveryReadModel(),
        ]
    )
