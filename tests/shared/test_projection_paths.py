"""The projection's fast path (no savepoint, a guarded checkpoint) and its careful path, and the auditing rebuild.

A batch is applied without a savepoint and committed with one statement that moves the checkpoint only from where
the batch started; a read-model failure or a checkpoint found elsewhere rolls the batch back and takes the careful
path. Each test makes the unusual case happen for real and counts what the read model applied.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence

import asyncpg

from shared.envelope import parse_envelope
from shared.eventstore import StoredEvent
from shared.projection import AfterCommit, Raw
from shared.rebuild import rebuild
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import wait_until
from tests.shared.counting import COUNTER, CountingReadModel, assert_exactly_once, read_log_facts
from tests.shared.load import Writer

AGGREGATES = 6


class FailingOn(CountingReadModel):
    """Fails (as a read model's bug would) whenever a batch holds one chosen event."""

    def __init__(self, bad: tuple[str, int]) -> None:
        super().__init__("failing")
        self.bad = bad  # (aggregate id, version)

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        if any((e.envelope.aggregate_id, e.envelope.version) == self.bad for e in events):
            raise ValueError("no such thing as this event")
        await super().apply(conn, schema, events)


async def _load(rt: Runtime, reports_each: int) -> Writer:
    writer = Writer(rt.store, aggregates=AGGREGATES)
    await writer.register_all()
    for _ in range(reports_each):
        for aggregate in writer.ids:
            await writer.report(aggregate)
    return writer


async def test_a_read_model_failure_parks_that_event_alone_and_the_rest_of_its_batch_is_applied_once(
    settings: Settings,
) -> None:
    bad = ("fault-002", 3)
    rt = await Runtime.start(COUNTER, settings, FailingOn(bad), run_projection=False)
    try:
        await _load(rt, reports_each=4)  # written before the projection starts: batches of many events
        rt._tasks.append(asyncio.create_task(rt.runner.run()))
        assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
        facts = await read_log_facts(rt.store)
        [bad_seq] = [seq for seq, (_, aggregate, version) in facts.seqs.items() if (aggregate, version) == bad]
        async with rt.pool.acquire() as conn:
            applied = {r["seq"]: r["times"] for r in await conn.fetch(f"SELECT seq, times FROM {rt.schema}.applied")}
            parked = await conn.fetch(f"SELECT seq, reason FROM {rt.schema}._dead_letter")
            ids = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}._applied_event")
        assert [(r["seq"], r["reason"]) for r in parked] == [
            (bad_seq, "apply failed: ValueError: no such thing as this event")
        ]
        assert applied == {seq: 1 for seq in facts.seqs if seq != bad_seq}
        assert ids == len(facts.seqs) - 1  # the parked event's id is not recorded as applied
        assert rt.runner.stats.careful >= 1
    finally:
        await rt.stop()


def _transient_once_after_commit(failures: list[int]) -> AfterCommit:
    """Raises a lost connection once, right after a commit: the batch is retried though it was committed (as when
    the answer to COMMIT is lost)."""

    async def fail(partition: int, raws: list[Raw]) -> None:
        if not failures:
            failures.append(raws[-1].seq)
            raise ConnectionResetError("connection reset by peer after the commit")

    return fail


async def test_a_batch_retried_after_its_commit_applies_nothing_twice(settings: Settings) -> None:
    failures: list[int] = []
    rt = await Runtime.start(
        COUNTER, settings, CountingReadModel("retried"), after_commit=_transient_once_after_commit(failures)
    )
    try:
        await _load(rt, reports_each=3)
        assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
        assert failures, "the fault was never injected"

        async def retried() -> bool:
            return rt.runner.stats.careful >= 1

        # The retried batch finds the checkpoint already past it: the guard refuses, the careful path applies none.
        await wait_until(retried, 10, "the committed batch to be retried through the careful path")
        await assert_exactly_once(rt.pool, rt.schema, rt.store)
    finally:
        await rt.stop()


async def test_after_a_partial_batch_the_projection_lingers_so_a_trickle_of_events_commits_together(
    settings: Settings,
) -> None:
    """Five events written 30 ms apart to one aggregate: a projection that lingers a second after a partial batch
    commits them in at most two batches (the first may be fetched alone), each exactly once; one that fetches again
    at once (linger 0) commits nearly one batch per event."""
    rt = await Runtime.start(COUNTER, dataclasses.replace(settings, projection_linger_s=1.0), CountingReadModel())
    try:
        writer = await _load(rt, reports_each=0)
        assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
        before = rt.runner.stats.batches
        for _ in range(5):
            await writer.report(writer.ids[0])
            await asyncio.sleep(0.03)  # a trickle: each event alone on the wire
        assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
        assert rt.runner.stats.batches - before <= 2
        await assert_exactly_once(rt.pool, rt.schema, rt.store)
    finally:
        await rt.stop()


async def test_rebuild_verifies_hashes_only_when_asked(settings: Settings) -> None:
    """An event whose bytes were altered after it was hashed, on its right subject and in its chain: every consumer
    applies it (its linkage holds), and an auditing rebuild (`verify_hashes=True`) parks it."""
    rt = await Runtime.start(COUNTER, settings, CountingReadModel(), run_projection=False)
    try:
        writer = await _load(rt, reports_each=1)
        last = (await rt.store.read_aggregate("project", writer.ids[0]))[-1]
        await writer.report(writer.ids[0])
        genuine = await rt.store.get(writer.positions[writer.ids[0]].last_seq)
        assert genuine.envelope.prev_hash == last.envelope.hash
        # The same event as the genuine next one, with one figure changed and the hash left as it was, as version +1.
        doc = json.loads(genuine.envelope.to_bytes())
        doc.update(version=doc["version"] + 1, prev_hash=doc["hash"], id="3b1f5c9e-1d2a-4c6b-9f7e-0a1b2c3d4e5f")
        doc["payload"]["report_id"] = "altered"
        data = json.dumps(doc, ensure_ascii=False).encode()
        parse_envelope(data)  # readable; only the hash says it was altered
        subject = f"{settings.subject_prefix}.ev.project.{writer.ids[0]}"
        altered_seq = (await rt.js.publish(subject, data, stream=settings.stream)).seq

        trusting = await rebuild(rt.pool, rt.store, CountingReadModel(), "counter_linkage")
        assert trusting.applied == altered_seq and trusting.dead_lettered == 0
        audit = await rebuild(rt.pool, rt.store, CountingReadModel(), "counter_audit", verify_hashes=True)
        assert audit.applied == altered_seq - 1 and audit.dead_lettered == 1
        async with rt.pool.acquire() as conn:
            parked = await conn.fetch("SELECT seq, reason FROM counter_audit._dead_letter")
            checkpoints = await conn.fetch("SELECT last_seq FROM counter_audit._checkpoint")
        assert [r["seq"] for r in parked] == [altered_seq]
        assert "hash does not match" in parked[0]["reason"]
        assert max(r["last_seq"] for r in checkpoints) == altered_seq
    finally:
        await rt.stop()
