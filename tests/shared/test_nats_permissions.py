"""Each service's NATS user, against a real nats-server running the generated configuration.

Every refusal is shown twice: the operation fails, and the server reports a permissions violation for the exact
subject. Afterwards the administrator reads the stream's configuration, message count and consumers back: nothing
changed. The positive side runs the same client calls the platform's runner makes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js import api as js_api

from shared.catalogue.ownership import SERVICES
from shared.consumer import PartitionedConsumer
from shared.devstack.embedded import Server, start_nats
from shared.devstack.nats_config import ADMIN, render_server_config
from shared.eventstore import EventStore
from shared.names import LEASE_BUCKET, REBUILD_GROUP, consumer_name, lease_prefix
from shared.partition_reader import PartitionReader
from shared.provision import KV_STREAM, StreamLayout, provision_at, verify
from tests.platform import wait_until

LAYOUT = StreamLayout(stream="PERM", prefix="perm", partitions=2)
PASSWORDS = {user: f"{user}-password" for user in [*SERVICES, ADMIN]}
REFUSED_WITHIN_S = 0.5  # a denied request is dropped by the server, so the client's wait runs out


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    def config(port: int, store_dir: str) -> str:
        return render_server_config(
            PASSWORDS,
            port=port,
            store_dir=store_dir,
            stream=LAYOUT.stream,
            prefix=LAYOUT.prefix,
            partitions=LAYOUT.partitions,
        )

    srv = start_nats(Path(tmp_path_factory.mktemp("nats-perm")), config=config)
    try:
        await provision_at(srv.url, LAYOUT, user=ADMIN, password=PASSWORDS[ADMIN])
        yield srv
    finally:
        srv.stop()


@dataclass
class Session:
    user: str
    nc: NATS
    js: JetStreamContext
    violations: list[str] = field(default_factory=list)

    async def refused(self, action: Awaitable[Any], subject: str) -> None:
        """`action` fails and the server names `subject` in a permissions violation."""
        with pytest.raises(nats.errors.TimeoutError):
            await action
        wanted = f'permissions violation for publish to "{subject}"'.lower()
        await wait_until(lambda: _holds(any(wanted in v for v in self.violations)), 5, f"{self.user}: {wanted}")


async def _holds(value: bool) -> bool:
    return value


@asynccontextmanager
async def connected(server: Server, user: str) -> AsyncIterator[Session]:
    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc).lower())

    nc = await nats.connect(server.url, user=user, password=PASSWORDS[user], error_cb=on_error)
    try:
        yield Session(user, nc, nc.jetstream(timeout=REFUSED_WITHIN_S), violations)
    finally:
        await nc.close()


async def snapshot(server: Server) -> dict[str, Any]:
    """What a service must not be able to change, read as the administrator."""
    async with connected(server, ADMIN) as admin:
        info = await admin.js.stream_info(LAYOUT.stream)
        kv = await admin.js.stream_info(KV_STREAM)
        consumers = {c.name: c.config.as_dict() for c in await admin.js.consumers_info(LAYOUT.stream)}
        durable = {k: v for k, v in consumers.items() if v.get("durable_name")}
        return {
            "config": info.config.as_dict(),
            "messages": info.state.messages,
            "kv": kv.config.as_dict(),
            "consumers": durable,
        }


def runner_of(service: str, js: JetStreamContext) -> PartitionedConsumer:
    """The platform's consumer machinery (shared.consumer) for one service's projection, for its NATS calls only."""
    store = EventStore(js, stream=LAYOUT.stream, prefix=LAYOUT.prefix, partitions=LAYOUT.partitions)
    return PartitionedConsumer(
        service=service,
        group="proj",
        schema=service,
        pool=None,
        store=store,
        js=js,
        leases=None,  # type: ignore[arg-type]
    )


def others(service: str) -> list[str]:
    return [s for s in SERVICES if s != service]


@pytest.mark.parametrize("service", list(SERVICES))
async def test_a_service_may_publish_only_its_own_aggregates(server: Server, service: str) -> None:
    before = await snapshot(server)
    async with connected(server, service) as me:
        foreign = [agg for other in others(service) for agg in sorted(SERVICES[other].aggregates)]
        await asyncio.gather(
            *(me.refused(me.js.publish(f"perm.ev.{agg}.forged", b"{}"), f"perm.ev.{agg}.forged") for agg in foreign)
        )
        await me.refused(me.js.publish("perm.ev.project", b"{}"), "perm.ev.project")  # not an event subject
        for agg in sorted(SERVICES[service].aggregates):
            ack = await me.js.publish(f"perm.ev.{agg}.{service}1", b"{}", stream=LAYOUT.stream)
            assert ack.stream == LAYOUT.stream
    after = await snapshot(server)
    assert after["messages"] == before["messages"] + len(SERVICES[service].aggregates)
    assert after["config"] == before["config"]


@pytest.mark.parametrize("service", list(SERVICES))
async def test_no_service_may_change_or_remove_the_stream_or_the_bucket(server: Server, service: str) -> None:
    async with connected(server, "intake") as intake:  # something in the log to lose
        await intake.js.publish("perm.ev.project.kept", b"{}", stream=LAYOUT.stream)
    before = await snapshot(server)
    stream = LAYOUT.stream
    async with connected(server, service) as me:
        shrunk = (await me.js.stream_info(stream)).config  # reading the configuration is allowed
        shrunk.max_msgs = 1
        await me.refused(me.js.update_stream(shrunk), f"$JS.API.STREAM.UPDATE.{stream}")
        await me.refused(me.js.delete_stream(stream), f"$JS.API.STREAM.DELETE.{stream}")
        await me.refused(me.js.purge_stream(stream), f"$JS.API.STREAM.PURGE.{stream}")
        await me.refused(me.js.delete_msg(stream, 1), f"$JS.API.STREAM.MSG.DELETE.{stream}")
        rival = js_api.StreamConfig(name="RIVAL", subjects=["perm.evp.>"])
        await me.refused(me.js.add_stream(rival), "$JS.API.STREAM.CREATE.RIVAL")
        bucket = (await me.js.stream_info(KV_STREAM)).config
        bucket.max_msgs_per_subject = 64
        await me.refused(me.js.update_stream(bucket), f"$JS.API.STREAM.UPDATE.{KV_STREAM}")
        await me.refused(me.js.delete_key_value(LEASE_BUCKET), f"$JS.API.STREAM.DELETE.{KV_STREAM}")
    assert await snapshot(server) == before


@pytest.mark.parametrize("service", list(SERVICES))
async def test_no_service_may_touch_another_services_consumer(server: Server, service: str) -> None:
    victim = others(service)[0]
    name = consumer_name(victim, "proj", 0)
    async with connected(server, victim) as owner:
        sub = await runner_of(victim, owner.js)._fresh_consumer(0, 0)  # as the victim's runner creates it
        await sub.unsubscribe()
    before = await snapshot(server)
    stream = LAYOUT.stream
    async with connected(server, service) as me:
        await me.refused(me.js.delete_consumer(stream, name), f"$JS.API.CONSUMER.DELETE.{stream}.{name}")
        legacy = js_api.ConsumerConfig(durable_name=name, filter_subject="perm.evp.1.>")
        await me.refused(me.js.add_consumer(stream, legacy), f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{name}")
        named = js_api.ConsumerConfig(name=name, durable_name=name, filter_subject="perm.evp.1.>")
        await me.refused(me.js.add_consumer(stream, named), f"$JS.API.CONSUMER.CREATE.{stream}.{name}.perm.evp.1.>")
        sub = await me.js.pull_subscribe_bind(durable=name, stream=stream)
        await me.refused(sub.fetch(1, timeout=REFUSED_WITHIN_S), f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}")
        # Nor the consumers a rebuild of the victim's read model reads with.
        rebuild = consumer_name(victim, REBUILD_GROUP, 0)
        theirs = js_api.ConsumerConfig(name=rebuild, durable_name=rebuild, filter_subject="perm.evp.0.>")
        await me.refused(me.js.add_consumer(stream, theirs), f"$JS.API.CONSUMER.CREATE.{stream}.{rebuild}.perm.evp.0.>")
        # No unnamed consumers either: through that subject a `name` in the body would take the victim's name.
        squat = {"stream_name": stream, "config": {"name": name, "filter_subject": "perm.evp.1.none"}}
        await me.refused(
            me.nc.request(f"$JS.API.CONSUMER.CREATE.{stream}", json.dumps(squat).encode(), timeout=REFUSED_WITHIN_S),
            f"$JS.API.CONSUMER.CREATE.{stream}",
        )
    assert await snapshot(server) == before


async def partition_events(js: JetStreamContext, partition: int) -> list[int]:
    """Stream sequences of one partition, read through a full replay (batched direct gets)."""
    store = EventStore(js, stream=LAYOUT.stream, prefix=LAYOUT.prefix, partitions=LAYOUT.partitions)
    prefix = f"{LAYOUT.prefix}.evp.{partition}."
    return [seq async for chunk in store.read_log(1) for seq, subject, _ in chunk if subject.startswith(prefix)]


async def test_a_service_can_do_what_the_platform_needs(server: Server) -> None:
    stream = LAYOUT.stream
    async with connected(server, "scheduling") as me:
        await verify(me.js, LAYOUT)  # what Runtime.start does
        expect_new = {"Nats-Msg-Id": "plan-p1-1", "Nats-Expected-Last-Subject-Sequence": "0"}
        first = await me.js.publish("perm.ev.plan.p1", b"{}", stream=stream, headers=expect_new)
        second = await me.js.publish("perm.ev.plan.p1", b"{}", stream=stream, headers={"Nats-Msg-Id": "plan-p1-2"})
        assert (await me.js.get_msg(stream, seq=first.seq, direct=True)).seq == first.seq
        stored = await me.js.get_msg(stream, seq=first.seq, subject="perm.evp.*.plan.p1", next=True, direct=True)
        assert stored.seq == first.seq and stored.subject is not None
        partition = int(stored.subject.split(".")[2])

        # The runner's consumer calls on its own consumer name: delete, create from the checkpoint, fetch.
        name = consumer_name("scheduling", "proj", partition)
        runner = runner_of("scheduling", me.js)
        await runner._fresh_consumer(partition, 0)
        sub = await runner._fresh_consumer(partition, first.seq - 1)  # the second time, it deletes the first
        msgs = await sub.fetch(10, timeout=2)
        assert [m.metadata.sequence.stream for m in msgs][:2] == [first.seq, second.seq]
        assert (await me.js.consumer_info(stream, name)).config.durable_name == name
        assert await me.js.delete_consumer(stream, name)

        # A full replay of the log (batched direct gets).
        assert {first.seq, second.seq} <= set(await partition_events(me.js, partition))

        # A rebuild's read of the partition through its own rebuild consumer (shared.partition_reader).
        rebuild = consumer_name("scheduling", REBUILD_GROUP, partition)
        reader = PartitionReader(me.js, stream, rebuild, f"{LAYOUT.prefix}.evp.{partition}.>")
        read = [raw.seq async for chunk in reader.read(1, second.seq) for raw in chunk]
        assert read == [seq for seq in await partition_events(me.js, partition) if seq <= second.seq]
        assert first.seq in read and second.seq in read

        # Its own keys in the lease bucket, and not another service's.
        kv = await me.js.key_value(LEASE_BUCKET)
        mine = f"{lease_prefix(stream, 'scheduling')}.proj.p0"
        revision = await kv.create(mine, b"1")
        assert (await kv.get(mine)).value == b"1"
        await kv.update(mine, b"2", last=revision)
        await kv.delete(mine)
        theirs = f"{lease_prefix(stream, 'intake')}.proj.p0"
        await me.refused(kv.put(theirs, b"x"), f"$KV.{LEASE_BUCKET}.{theirs}")
        await me.refused(kv.get(theirs), f"$JS.API.DIRECT.GET.{KV_STREAM}.$KV.{LEASE_BUCKET}.{theirs}")
