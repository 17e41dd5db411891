"""notification's reaction (shared.reactions): the other services' events -> notifications in the recipients'
inboxes (reaction `notifications`).

For each event of a routable type (render.ROUTABLE) the routing rule version in force on the event's day (China
time) is matched; each matching rule's recipients are resolved from facts this service folded (it waits until its
projection has passed the event) and each recipient's inbox gets one `NotificationRequested`, whose event id and
notification id derive from (source event, rule, recipient): a redelivery, a restart or a second replica appends
nothing twice. A rule naming a person (a unit's 联络员) addresses that person of each recipient organisation: the
delivery engine tries the person's contact points first. A recipient two rules name gets the more urgent one only;
the organisation that caused the event is not told of its own act. It starts at the log's end when first started:
the past is not news.
"""

from __future__ import annotations

from services.notification.domain import decide_request, notification_id
from services.notification.domain_rules import RULE_SET_ID, matching_rules
from services.notification.read_model_facts import RULE_SETS
from services.notification.read_model_inbox import INBOXES
from services.notification.recipients import resolve, subject_of
from services.notification.render import RENDERERS, ROUTABLE
from shared.catalogue import CATALOGUE
from shared.catalogue.notification import NotificationRequested
from shared.catalogue.notification_rules import RoutingRule, Urgency
from shared.clock import CHINA
from shared.commands import execute
from shared.reactions import Cause, Reaction
from shared.runtime import Runtime

NOTIFICATIONS = "notifications"
CATCH_UP_S = 10.0  # how long to wait for this service's projection to pass the event before retrying the batch
URGENCY_ORDER = [Urgency.INFO, Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL]


async def route(rt: Runtime, cause: Cause) -> None:
    event = cause.event
    env = event.envelope
    if not await rt.runner.wait_for(event.seq, CATCH_UP_S):
        raise TimeoutError(f"notification's read model has not reached seq {event.seq}")
    payload = CATALOGUE.payload_of(event)
    data = payload.model_dump(mode="json")
    async with rt.pool.acquire() as conn:
        rule_set = (await RULE_SETS.load_row(conn, rt.schema, RULE_SET_ID))[0]
        version = rule_set.in_force(env.recorded_at.astimezone(CHINA).date()) if rule_set else None
        if version is None:
            return
        rules = matching_rules(version, env.type, data)
        if not rules:
            return
        subject = await subject_of(conn, rt.schema, env, data)
        chosen: dict[str, RoutingRule] = {}
        for rule in rules:
            for org in await resolve(conn, rt.schema, rule.recipients, env, data, subject):
                if org == env.actor.org_id:
                    continue
                if org not in chosen or URGENCY_ORDER.index(rule.urgency) > URGENCY_ORDER.index(chosen[org].urgency):
                    chosen[org] = rule
    message = RENDERERS[env.type](payload, subject)
    for org, rule in chosen.items():
        request = NotificationRequested(
            notification_id=notification_id(env.id, rule.rule_id, org, rule.person), source_event_id=str(env.id),
            source_event_type=env.type, rule_id=rule.rule_id, rule_version=version.version, urgency=rule.urgency,
            title=message.title, body=message.body, link=message.link, person=rule.person,
        )  # fmt: skip
        await execute(
            pool=rt.pool, store=rt.store, schema=rt.schema, spec=INBOXES, aggregate_id=org,
            decide=lambda state, r=request: decide_request(state, r),  # type: ignore[misc]
            context=cause.context, event_id=cause.event_id(f"{rule.rule_id}|{org}"), cache=rt.cache,
        )  # fmt: skip


def notifications() -> Reaction:
    return Reaction(NOTIFICATIONS, dict.fromkeys(sorted(ROUTABLE), route), start="now")
