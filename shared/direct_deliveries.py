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
# (subject, data, header block) of one message: the block as the server sent it (`NATS/1.0[ status]\r\nKey: value
# \r\n...`), or None for a message without headers.
Received = Callable[[bytes, bytes, bytes | None], None]
ProcessMsg = Callable[[int, bytes, bytes, bytes, Any], Awaitable[None]]
# A subscription's route: the function, and whether only messages with a reply subject take it.
Route = tuple[Callable[[bytes, bytes, bytes, bytes | None], None], bool]

_ROUTES = "_tiaodu_direct_routes"


def direct_deliveries(nc: NATS, sid: int, delivered: Delivered, *, with_reply_only: bool = True) -> Callable[[], None]:
    """From now on every message of subscription `sid` with a reply subject goes to `delivered` (synchronously, in
    the order the server sent them) instead of to the subscription; returns the function that ends it.

    `with_reply_only=False` routes every message of the subscription, those without a reply subject too (the
    acknowledgements of a batch of publishes: shared.eventstore's `append_batch`); their headers are not read."""
    return _route(nc, sid, (lambda subject, reply, data, _headers: delivered(subject, reply, data), with_reply_only))


def direct_messages(nc: NATS, sid: int, received: Received) -> Callable[[], None]:
    """Every message of subscription `sid` goes to `received` with its header block unparsed (a direct get's replies
    carry their sequence and subject only there: shared.time_travel reads them with `header_fields`)."""
    return _route(nc, sid, (lambda subject, _reply, data, headers: received(subject, data, headers), False))


def header_fields(block: bytes | None) -> tuple[str, dict[str, str]]:
    """A header block as (status, fields): the status line's code and description ("" for none) and each `Key: value`
    line (a key given twice keeps its last value; what the callers read is never repeated)."""
    if not block:
        return "", {}
    lines = block.decode("latin-1").split("\r\n")  # header lines are ASCII; never fail on a stray byte
    status = lines[0][len("NATS/1.0") :].strip()
    fields = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return status, fields


def _route(nc: NATS, sid: int, route: Route) -> Callable[[], None]:
    routes: dict[int, Route] | None = getattr(nc, _ROUTES, None)
    if routes is None:
        routes = {}
        setattr(nc, _ROUTES, routes)
        nc._process_msg = _router(routes, nc._process_msg)  # type: ignore[method-assign, assignment]
    routes[sid] = route
    return lambda: routes.pop(sid, None) and None


def _router(routes: dict[int, Route], nats_way: ProcessMsg) -> ProcessMsg:
    async def process_msg(sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
        route = routes.get(sid)
        if route is not None and (reply or not route[1]):
            route[0](subject, reply, data, headers)
            return
        await nats_way(sid, subject, reply, data, headers)

    return process_msg
