"""Use cases of an organisation's settings and of the routing rules: contact points (secrets sealed before they
are decided on), preferences, subscriptions (an organisation or hq; never the auditor), routing rule versions (hq),
and the default rules, once at start-up. Decisions are domain_subscriptions.py's and domain_rules.py's."""

from __future__ import annotations

import os
import uuid

from services.notification import policies
from services.notification.channels.network_guard import NetworkGuard
from services.notification.commands import (
    ConfigureContactPoint,
    ContactPointBody,
    OnContactPoint,
    OnSubscription,
    PreferencesBody,
    PublishRoutingRules,
    SubscribeBody,
)
from services.notification.domain_rules import RULE_SET_ID, decide_default_rules, decide_publish
from services.notification.domain_subscriptions import (
    decide_configure_contact_point,
    decide_preferences,
    decide_remove_contact_point,
    decide_subscribe,
    decide_unsubscribe,
)
from services.notification.queries_settings import org_of_contact_point, org_of_subscription
from services.notification.read_model_facts import RULE_SETS
from services.notification.read_model_subscriptions import SUBSCRIPTIONS
from services.notification.render import ROUTABLE
from services.notification.secret_box import SecretBox, binding
from shared.commands import CommandMeta, Outcome, execute, handle
from shared.eventstore import Context
from shared.runtime import Runtime

DEFAULT_RULES_ID = uuid.UUID("c4a1e7d2-6b3f-4f59-8e0a-91d2b7c5f304")  # version 1's event id: one append, any replica


def _development(rt: Runtime) -> bool:
    return rt.settings.environment == "development"


def _guard(rt: Runtime) -> NetworkGuard | None:
    """Outside development, the networks a webhook or robot may point into (read when a contact point is written)."""
    return None if _development(rt) else NetworkGuard.from_env(os.environ)


async def create_contact_point(
    rt: Runtime, body: ContactPointBody, box: SecretBox, meta: CommandMeta
) -> tuple[str, Outcome]:
    """The new contact point's id (derived from the Idempotency-Key when there is one) and the outcome."""
    org = policies.manageable_org(meta.principal, body.org_id)
    point_id = meta.new_id("cp-", f"contact-point:{org}")
    sealed = None if body.secret is None else box.seal(body.secret, binding(org, point_id))
    return point_id, await handle(
        rt, SUBSCRIPTIONS, org, lambda s: decide_configure_contact_point(
            s, point_id, body, sealed, development=_development(rt), creating=True, guard=_guard(rt)),
        meta, scope=f"contact-point:{org}",
    )  # fmt: skip


async def replace_contact_point(rt: Runtime, cmd: ConfigureContactPoint, box: SecretBox, meta: CommandMeta) -> Outcome:
    org = await org_of_contact_point(rt.pool, rt.schema, cmd.contact_point_id)
    policies.manageable_org(meta.principal, org)
    sealed = None if cmd.secret is None else box.seal(cmd.secret, binding(org, cmd.contact_point_id))
    return await handle(
        rt, SUBSCRIPTIONS, org, lambda s: decide_configure_contact_point(
            s, cmd.contact_point_id, cmd, sealed, development=_development(rt), creating=False, guard=_guard(rt)),
        meta, scope=f"contact-point:{cmd.contact_point_id}",
    )  # fmt: skip


async def remove_contact_point(rt: Runtime, cmd: OnContactPoint, meta: CommandMeta) -> Outcome:
    org = await org_of_contact_point(rt.pool, rt.schema, cmd.contact_point_id)
    policies.manageable_org(meta.principal, org)
    return await handle(
        rt, SUBSCRIPTIONS, org, lambda s: decide_remove_contact_point(s, cmd.contact_point_id), meta,
        scope=f"contact-point-removal:{cmd.contact_point_id}",
    )  # fmt: skip


async def set_preferences(rt: Runtime, body: PreferencesBody, meta: CommandMeta) -> Outcome:
    org = policies.manageable_org(meta.principal, body.org_id)
    return await handle(
        rt, SUBSCRIPTIONS, org, lambda s: decide_preferences(s, body.preferences), meta, scope=f"preferences:{org}"
    )


async def subscribe(rt: Runtime, body: SubscribeBody, meta: CommandMeta) -> tuple[str, Outcome]:
    org = policies.manageable_org(meta.principal, body.org_id)
    subscription_id = meta.new_id("sub-", f"subscription:{org}")
    return subscription_id, await handle(
        rt, SUBSCRIPTIONS, org, lambda s: decide_subscribe(s, subscription_id, body, ROUTABLE), meta,
        scope=f"subscription:{org}",
    )  # fmt: skip


async def unsubscribe(rt: Runtime, cmd: OnSubscription, meta: CommandMeta) -> Outcome:
    org = await org_of_subscription(rt.pool, rt.schema, cmd.subscription_id)
    policies.manageable_org(meta.principal, org)
    return await handle(
        rt, SUBSCRIPTIONS, org, lambda s: decide_unsubscribe(s, cmd.subscription_id), meta,
        scope=f"unsubscription:{cmd.subscription_id}",
    )  # fmt: skip


async def publish_routing_rules(rt: Runtime, cmd: PublishRoutingRules, meta: CommandMeta) -> Outcome:
    policies.must_be_hq(meta.principal, "发布路由规则")
    return await handle(
        rt, RULE_SETS, RULE_SET_ID, lambda s: decide_publish(s, cmd, ROUTABLE), meta, scope="routing-rules"
    )


async def ensure_default_rules(rt: Runtime, ctx: Context) -> None:
    """Version 1 once: every replica may try, one appends it (its id is fixed), the others find it there."""
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=RULE_SETS, aggregate_id=RULE_SET_ID,
        decide=decide_default_rules, context=ctx, event_id=DEFAULT_RULES_ID,
    )  # fmt: skip
