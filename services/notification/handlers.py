"""Inbox use cases: load -> authorize -> decide -> append (shared.commands). Who may act is policies.py's; what
the inbox allows is domain.py's."""

from __future__ import annotations

from services.notification import policies
from services.notification.commands import MarkRead
from services.notification.domain import decide_read, read_event_id
from services.notification.queries import notification_facts
from services.notification.read_model_inbox import INBOXES
from shared.commands import CommandMeta, Outcome, execute
from shared.domain_errors import NotFound
from shared.runtime import Runtime


async def mark_read(rt: Runtime, cmd: MarkRead, meta: CommandMeta) -> Outcome:
    """The notification's own id makes a second mark (a retry, a second tab) append nothing."""
    facts = await notification_facts(rt.pool, rt.schema, cmd.notification_id)
    if facts is None:
        raise NotFound("通知不存在", field="notification_id", reason="收件箱中没有该通知")
    policies.must_be_recipient(meta.principal, facts.org_id)
    at = rt.clock.now()
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=INBOXES, aggregate_id=facts.org_id,
        decide=lambda _: decide_read(facts, meta.principal.org_id, at), context=meta.context,
        if_match=meta.if_match, event_id=read_event_id(cmd.notification_id), cache=rt.cache,
    )  # fmt: skip
