"""What the settings API reads: an organisation's settings row, and whose a contact point or subscription is."""

from __future__ import annotations

import asyncpg

from services.notification.domain_subscriptions import SubscriptionState
from services.notification.read_model_subscriptions import SUBSCRIPTIONS
from shared.domain_errors import not_found


async def settings_of(pool: asyncpg.Pool, schema: str, org_id: str) -> tuple[SubscriptionState, int]:
    async with pool.acquire() as conn:
        state, position = await SUBSCRIPTIONS.load_row(conn, schema, org_id)
    return state or SubscriptionState(org_id=org_id), position.version


async def _org_holding(pool: asyncpg.Pool, schema: str, key: str, item_id: str, field: str, what: str) -> str:
    async with pool.acquire() as conn:
        org = await conn.fetchval(f"SELECT id FROM {schema}.subscriptions WHERE state->'{key}' ? $1", item_id)
    if org is None:
        raise not_found(field, f"{what}不存在")
    return str(org)


async def org_of_contact_point(pool: asyncpg.Pool, schema: str, contact_point_id: str) -> str:
    return await _org_holding(pool, schema, "contact_points", contact_point_id, "contact_point_id", "联系方式")


async def org_of_subscription(pool: asyncpg.Pool, schema: str, subscription_id: str) -> str:
    return await _org_holding(pool, schema, "subscriptions", subscription_id, "subscription_id", "订阅")
