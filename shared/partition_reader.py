"""One partition of the log, read from sequence 1 (or any) through a named consumer of its own: a rebuild's reader.

Batched direct gets (`EventStore.read_log`) cost a request per thousand events and eight reply headers per event
that nats-py parses in Python; a consumer delivers the events with their stored headers only, in a stream of pull
responses that never stops for a round trip. The consumer is named (`<service>-rebuild-p<n>`, shared.names), so a
service's own NATS user may create it under its grant (docs/adr/0006 grants no unnamed consumers; docs/adr/0012).

- AckNone, filtered to the partition, starting at `from_seq`: the server keeps no per-message state.
- Pull requests keep `window` deliveries asked for ahead of what arrived (credit), so the server never waits on us
  for a round trip; flow is bounded by the same window, so a slow fold never piles up more than that in memory.
- Nothing is skipped: each delivery must be the consumer's next one (delivery sequence one more than the last,
  delivered once). Anything else (the consumer deleted or recreated by someone else, a pull response lost) recreates
  the consumer right after the last sequence received, a bounded number of times, then fails loudly.
- The end: the sequence `until_seq`, or no event of the partition stored after the last one received up to
  `until_seq` (every event up to it is stored before the read starts, so none can arrive later). The consumer's
  "nothing pending" is only the hint to look, a direct get of the partition's next event decides: the end of a
  partition is never left to a count that is the server's estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from shared.direct_deliveries import direct_deliveries
from shared.verification import Raw

log = logging.getLogger("tiaodu.partition_reader")

IDLE_TIMEOUT_S = 10.0  # nothing delivered for this long while events are pending: ask again from where it stopped
RECREATE_LIMIT = 5  # consecutive recreations without progress before a read gives up
INACTIVE_CONSUMER_S = 300.0  # a reader that died leaves its consumer behind for this long at most
PULL_EXPIRES_NS = 30_000_000_000


class Delivery(NamedTuple):
    """What the ack subject of a JetStream delivery says (`$JS.ACK.[<domain>.<hash>.]<stream>.<consumer>.<n>...`).
    A tuple, made per delivery in half a frozen dataclass's time."""

    delivered: int  # times this message was delivered
    stream_seq: int
    consumer_seq: int
    pending: int  # messages after this one the consumer has still to deliver

    @classmethod
    def of(cls, reply: str) -> Delivery:
        t = reply.split(".")
        if len(t) == 9:  # the server's first form, without domain and account hash
            return cls(int(t[4]), int(t[5]), int(t[6]), int(t[8]))
        if len(t) >= 11:
            return cls(int(t[6]), int(t[7]), int(t[8]), int(t[10]))
        raise ValueError(f"not a JetStream delivery: {reply!r}")


class ReadInterrupted(Exception):
    """The consumer's deliveries stopped following one another; recreate it after the last sequence received."""


@dataclass
class PartitionReader:
    js: JetStreamContext
    stream: str
    consumer: str  # a name the reader's NATS user may create (shared.names.consumer_name(service, REBUILD_GROUP, p))
    filter_subject: str  # the partition's stored subjects, `<prefix>.evp.<n>.>`
    window: int = 4000  # deliveries asked for ahead; also the largest chunk yielded
    recreated: int = 0

    @property
    def nc(self) -> NATS:
        return self.js._nc  # the JetStream context's connection (nats-py keeps it there)

    async def read(self, from_seq: int, until_seq: int) -> AsyncIterator[list[Raw]]:
        """Every event of the partition in [from_seq, until_seq], in chunks as they arrive, each exactly once."""
        seq = from_seq
        stalls = 0
        try:
            while seq <= until_seq:
                pending = await self._fresh_consumer(seq)
                if pending == 0 and await self._ended(seq - 1, until_seq):
                    return
                try:
                    async for chunk in self._deliveries(until_seq):
                        stalls = 0
                        seq = chunk[-1].seq + 1
                        yield chunk
                    return
                except ReadInterrupted as exc:
                    stalls += 1
                    self.recreated += 1
                    if stalls > RECREATE_LIMIT:
                        raise RuntimeError(f"{self.consumer}: reading stalled at sequence {seq}: {exc}") from exc
                    log.warning("%s: %s; recreating the consumer after sequence %s", self.consumer, exc, seq - 1)
        finally:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, self.consumer)

    async def _fresh_consumer(self, from_seq: int) -> int:
        """(Re)create the consumer to start at `from_seq`; returns how many events it has to deliver."""
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(self.stream, self.consumer)
        config = js_api.ConsumerConfig(
            name=self.consumer,
            durable_name=self.consumer,
            deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=from_seq,
            ack_policy=js_api.AckPolicy.NONE,
            filter_subject=self.filter_subject,
            inactive_threshold=INACTIVE_CONSUMER_S,
            mem_storage=True,  # its state is thrown away after the read
        )
        info = await self.js.add_consumer(self.stream, config)
        return int(info.num_pending or 0)

    async def _ended(self, last_seq: int, until_seq: int) -> bool:
        """True when the partition holds no event after `last_seq` up to `until_seq` (a direct get decides)."""
        try:
            found = await self.js.get_msg(self.stream, seq=last_seq + 1, subject=self.filter_subject, next=True,
                                          direct=True)  # fmt: skip
        except NotFoundError:
            return True
        if found.seq is not None and found.seq > until_seq:
            return True
        log.warning("%s: the consumer says nothing is pending after %s, but %s is stored; reading on", self.consumer,
                    last_seq, found.seq)  # fmt: skip
        return False

    async def _deliveries(self, until_seq: int) -> AsyncIterator[list[Raw]]:
        arrived: list[Raw] = []
        problem: list[str] = []
        woken = asyncio.Event()
        next_delivery = 1
        last_seq = 0
        done = drained = False  # done: `until_seq` reached; drained: the consumer says nothing more is pending

        def delivered(subject: bytes, reply: bytes, data: bytes) -> None:
            nonlocal next_delivery, last_seq, done, drained
            if done or problem:
                return
            d = Delivery.of(reply.decode())
            if d.consumer_seq != next_delivery or d.delivered != 1:
                problem.append(f"delivery {d.consumer_seq} (expected {next_delivery}, delivered {d.delivered}x)")
            elif d.stream_seq <= until_seq:
                arrived.append(Raw(d.stream_seq, subject.decode(), data))
                next_delivery += 1
                last_seq = d.stream_seq
            done = d.stream_seq >= until_seq
            drained = d.pending == 0
            if done or drained or problem or len(arrived) >= self.window // 4:
                woken.set()

        async def status(msg: Msg) -> None:
            """A message without a reply: 408 an expired pull (asked again below), 409 the consumer went away."""
            if msg.reply:  # not routed to `delivered` (never, while it is routed): the same checks
                delivered(msg.subject.encode(), msg.reply.encode(), msg.data)
                return
            code = (msg.headers or {}).get("Status", "")
            if not (done or problem) and code not in ("408", "404"):
                problem.append(f"pull answered {code} {(msg.headers or {}).get('Description', '')}")
                woken.set()

        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox, cb=status, pending_msgs_limit=4 * self.window, pending_bytes_limit=-1)
        next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"
        asked = 0
        unroute = direct_deliveries(self.nc, sub._id, delivered)  # past nats-py's Msg machinery (ADR 0019)
        try:
            while True:
                # Keep `window` deliveries asked for beyond those taken: the server streams without waiting on us.
                taken = next_delivery - 1
                if asked - taken < self.window // 2:
                    more = self.window - (asked - taken)
                    request = {"batch": more, "expires": PULL_EXPIRES_NS}
                    await self.nc.publish(next_subject, json.dumps(request).encode(), reply=inbox)
                    asked += more
                if not (arrived or done or drained or problem):
                    woken.clear()
                    try:
                        await asyncio.wait_for(woken.wait(), IDLE_TIMEOUT_S)
                    except TimeoutError:
                        raise ReadInterrupted(f"nothing delivered for {IDLE_TIMEOUT_S:.0f} s") from None
                if problem:
                    if arrived:
                        yield arrived
                    raise ReadInterrupted(problem[0])
                if arrived:
                    chunk, arrived = arrived, []
                    yield chunk
                    # What arrived while the caller used the chunk (its last deliveries too) is yielded next.
                    continue
                if done:
                    return
                if drained and not arrived:
                    if await self._ended(last_seq, until_seq):
                        return
                    drained = False
        finally:
            unroute()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
