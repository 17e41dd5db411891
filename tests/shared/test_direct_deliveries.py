"""Deliveries routed straight from nats-py's parser (shared.direct_deliveries, docs/adr/0019), on a real server:
each subscription's messages with a reply subject reach its own function in order, messages without one (a pull's
status) and other subscriptions take nats-py's way, and once unrouted a subscription gets its messages again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats
from nats.aio.msg import Msg

from shared.direct_deliveries import direct_deliveries, direct_messages, header_fields
from shared.settings import Settings
from tests.platform import wait_until


async def test_routed_deliveries_reach_their_function_and_the_rest_takes_nats_py_s_way(settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    try:
        routed: dict[str, list[tuple[bytes, bytes, bytes]]] = {"a": [], "b": []}
        through_nats: dict[str, list[Msg]] = {"a": [], "b": [], "plain": []}

        arrived = asyncio.Event()

        def handler(name: str) -> Callable[[Msg], Awaitable[None]]:
            async def cb(msg: Msg) -> None:
                through_nats[name].append(msg)
                arrived.set()

            return cb

        def route(name: str) -> Callable[[bytes, bytes, bytes], None]:
            def delivered(subject: bytes, reply: bytes, data: bytes) -> None:
                routed[name].append((subject, reply, data))
                arrived.set()

            return delivered

        subs = {name: await nc.subscribe(f"dd.{name}", cb=handler(name)) for name in through_nats}
        unroute_a = direct_deliveries(nc, subs["a"]._id, route("a"))
        unroute_b = direct_deliveries(nc, subs["b"]._id, route("b"))
        for i in range(50):
            await nc.publish("dd.a", f"a{i}".encode(), reply=f"reply.a.{i}")
            await nc.publish("dd.b", f"b{i}".encode(), reply=f"reply.b.{i}", headers={"K": "v"})
        await nc.publish("dd.a", b"status-like", headers={"Status": "408"})  # no reply subject: nats-py's way
        await nc.publish("dd.plain", b"other", reply="reply.plain")  # a subscription that is not routed
        await nc.flush()
        await _until(arrived, lambda: len(through_nats["a"]) == 1 and len(through_nats["plain"]) == 1)
        assert routed["a"] == [(b"dd.a", f"reply.a.{i}".encode(), f"a{i}".encode()) for i in range(50)]
        assert [d for _, _, d in routed["b"]] == [f"b{i}".encode() for i in range(50)]
        assert through_nats["a"][0].headers == {"Status": "408"} and through_nats["b"] == []

        unroute_a()
        await nc.publish("dd.a", b"again", reply="reply.a.again")
        await nc.publish("dd.b", b"still routed", reply="reply.b.more")
        await nc.flush()
        await _until(arrived, lambda: len(through_nats["a"]) == 2 and len(routed["b"]) == 51)
        assert through_nats["a"][1].data == b"again" and len(routed["a"]) == 50
        unroute_b()
    finally:
        await nc.close()


async def _until(arrived: asyncio.Event, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition` holds, looking again whenever something arrived."""

    async def wait() -> None:
        while not condition():
            arrived.clear()
            await arrived.wait()

    await asyncio.wait_for(wait(), timeout)


async def test_a_routed_message_s_header_block_reads_as_nats_py_reads_it(settings: Settings) -> None:
    """`direct_messages` hands over the raw header block; `header_fields` reads from it what nats-py's `Msg` would
    (the fields, and the status and description of a status line)."""
    nc = await nats.connect(settings.nats_url)
    try:
        blocks: list[tuple[bytes, bytes | None]] = []
        sub = await nc.subscribe("hdr.routed")
        unroute = direct_messages(nc, sub._id, lambda _subject, data, block: blocks.append((data, block)))
        await nc.publish("hdr.routed", b"one", headers={"Nats-Sequence": "42", "Nats-Subject": "a.b.c"})
        await nc.publish("hdr.routed", b"two")
        await nc.flush()

        async def both() -> bool:
            return len(blocks) == 2

        await wait_until(both, what="both messages routed")
        unroute()
        [(first, block), (second, none)] = blocks
        assert (first, second, none) == (b"one", b"two", None)
        assert header_fields(block) == ("", {"Nats-Sequence": "42", "Nats-Subject": "a.b.c"})
        assert header_fields(b"NATS/1.0 204 EOB\r\nNats-Pending-Messages: 0\r\n\r\n") == (
            "204 EOB",
            {"Nats-Pending-Messages": "0"},
        )
        await sub.unsubscribe()
    finally:
        await nc.close()
