"""Deliveries of one subscription handed straight to a function, past nats-py's per-message machinery (ADR 0019).

nats-py turns every message into a `Msg`: it parses the stored headers (Nats-Msg-Id, the expected sequence, the event
type, the trace context) line by line in Python, builds the object, queues it and wakes a task that awaits the
callback. A rebuild reads a million deliveries and needs none of that: the reply subject (where JetStream says which
delivery it is) and the bytes. `direct_deliveries` routes the messages of one subscription that carry a reply
subject to a plain function, from nats-py's own parser, before any of that is done; a message without a reply (a
pull's status: 408, 409, ...) still takes nats-py's way to the subscription's callback, headers parsed.

It replaces the connection's `_process_msg` with a router (once per connection; several readers share it, one entry
per subscription id) and relies on nats-py's private interface, which is why nats-py is pinned: `_process_msg(sid,
subject, reply, data, headers)` with bytes, called by `nats.protocol.parser.Parser` for every MSG/HMSG
(tests/shared/test_partition_reader.py reads through it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS

# (subject, reply subject, data) of one delivery, as the server sent them.
Delivered = Callable[[bytes, bytes, bytes], None]
ProcessMsg = Callable[[int, bytes, bytes, bytes, Any], Awaitable[None]]

_ROUTES = "_tiaodu_direct_routes"


def direct_deliveries(nc: NATS, sid: int, delivered: Delivered, *, with_reply_only: bool = True) -> Callable[[], None]:
    """From now on every message of subscription `sid` with a reply subject goes to `delivered` (synchronously, in
    the order the server sent them) instead of to the subscription; returns the function that ends it.

    `with_reply_only=False` routes every message of the subscription, those without a reply subject too (the
    acknowledgements of a batch of publishes: shared.eventstore's `append_batch`); their headers are not read."""
    routes: dict[int, tuple[Delivered, bool]] | None = getattr(nc, _ROUTES, None)
    if routes is None:
        routes = {}
        setattr(nc, _ROUTES, routes)
        nc._process_msg = _router(routes, nc._process_msg)  # type: ignore[method-assign, assignment]
    routes[sid] = (delivered, with_reply_only)
    return lambda: routes.pop(sid, None) and None


def _router(routes: dict[int, tuple[Delivered, bool]], nats_way: ProcessMsg) -> ProcessMsg:
    async def process_msg(sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
        route = routes.get(sid)
        if route is not None and (reply or not route[1]):
            route[0](subject, reply, data)
            return
        await nats_way(sid, subject, reply, data, headers)

    return process_msg
