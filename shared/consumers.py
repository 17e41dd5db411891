"""A service's durable consumers: created when missing, and replaced when someone else squats the name.

A service's NATS user may create unnamed consumers on the event stream (`$JS.API.CONSUMER.CREATE.<stream>`, for
ordered replays). The server refuses a durable name on that subject, but accepts a `name` in the request body and
then creates an *ephemeral* consumer under that name (nats-server 2.15). So another service could squat
`scheduling-proj-p0` with, say, a narrower filter, and a runner that merely binds to an existing consumer would
skip events. A squatted consumer is never durable under our name with our filter: we delete it (our user may
delete its own names) and create ours. The squatter can annoy, not make us skip (docs/adr/0006).
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

log = logging.getLogger("tiaodu.consumers")


def is_ours(have: js_api.ConsumerConfig, want: js_api.ConsumerConfig) -> bool:
    """The properties that decide what a pull consumer delivers and when a message counts as processed."""
    return (
        have.durable_name == want.durable_name
        and have.filter_subject == want.filter_subject
        and have.filter_subjects in (None, [])
        and have.ack_policy == want.ack_policy
        and have.deliver_subject is None
    )


async def ensure_durable_consumer(js: JetStreamContext, stream: str, config: js_api.ConsumerConfig) -> None:
    name = config.durable_name
    if not name:
        raise ValueError("a durable consumer needs durable_name")
    try:
        info = await js.consumer_info(stream, name)
    except NotFoundError:
        await js.add_consumer(stream, config)
        return
    if is_ours(info.config, config):
        return
    log.warning("consumer %s on %s is not our durable consumer (%s); replacing it", name, stream, info.config)
    await js.delete_consumer(stream, name)
    await js.add_consumer(stream, config)
