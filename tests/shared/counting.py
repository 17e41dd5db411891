"""A read model that counts, so that a projection applying an event twice, or never, shows in its rows.

The services' read models upsert by primary key or carry derived totals in the events, so a double application
leaves them unchanged; this one increments counters instead, and `assert_exactly_once` compares them with the log.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from shared.envelope import parse_envelope
from shared.eventstore import EventStore, StoredEvent
from shared.projection import AfterCommit
from shared.runtime import Runtime
from shared.settings import Settings

COUNTER = "counter"  # the counting projection's service name: its schema, consumers and leases

COUNTING_DDL = """
CREATE TABLE IF NOT EXISTS {s}.applied (
    seq bigint PRIMARY KEY, partition int NOT NULL, aggregate_id text NOT NULL, version int NOT NULL,
    times int NOT NULL, replica text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.per_aggregate (
    id text PRIMARY KEY, n int NOT NULL, last_version int NOT NULL, out_of_order int NOT NULL);
"""


class CountingReadModel:
    """Counts every application: `applied.times` per event, `per_aggregate.n` per aggregate.

    `out_of_order` counts events whose version did not follow the last one applied for their aggregate, and
    `replica` records who applied an event last, so a test can see which replica works on which partition.
    """

    tables = ("applied", "per_aggregate")

    def __init__(self, replica: str = "in-process") -> None:
        self.replica = replica

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(COUNTING_DDL.format(s=schema))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await conn.executemany(
            f"INSERT INTO {schema}.applied AS a (seq, partition, aggregate_id, version, times, replica) "
            "VALUES ($1, $2, $3, $4, 1, $5) "
            "ON CONFLICT (seq) DO UPDATE SET times = a.times + 1, replica = EXCLUDED.replica",
            [(e.seq, e.partition, e.envelope.aggregate_id, e.envelope.version, self.replica) for e in events],
        )
        # One statement per event, in order: the version check compares with the row the previous one left.
        await conn.executemany(
            f"INSERT INTO {schema}.per_aggregate AS p (id, n, last_version, out_of_order) "
            "VALUES ($1, 1, $2, CASE WHEN $2 = 1 THEN 0 ELSE 1 END) "
            "ON CONFLICT (id) DO UPDATE SET n = p.n + 1, last_version = EXCLUDED.last_version, "
            "out_of_order = p.out_of_order + CASE WHEN EXCLUDED.last_version = p.last_version + 1 THEN 0 ELSE 1 END",
            [(e.envelope.aggregate_id, e.envelope.version) for e in events],
        )


@dataclass
class LogFacts:
    """What the log says the read model must hold."""

    seqs: dict[int, tuple[int, str, int]] = field(default_factory=dict)  # seq -> (partition, aggregate, version)
    last_by_partition: dict[int, int] = field(default_factory=dict)
    events_by_aggregate: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_version: dict[str, int] = field(default_factory=dict)


async def read_log_facts(store: EventStore, until_seq: int | None = None) -> LogFacts:
    facts = LogFacts()
    async for chunk in store.read_log(1, until_seq=until_seq):
        for seq, subject, data in chunk:
            envelope = parse_envelope(data)
            partition = int(subject.split(".")[2])
            facts.seqs[seq] = (partition, envelope.aggregate_id, envelope.version)
            facts.last_by_partition[partition] = seq
            facts.events_by_aggregate[envelope.aggregate_id] += 1
            facts.last_version[envelope.aggregate_id] = envelope.version
    return facts


def _ranges(seqs: Sequence[int], limit: int = 12) -> str:
    """`[3, 4, 5, 9]` -> `3-5, 9`: a skipped batch reads as one range in an assertion message."""
    spans: list[list[int]] = []
    for seq in sorted(seqs):
        if spans and spans[-1][1] == seq - 1:
            spans[-1][1] = seq
        else:
            spans.append([seq, seq])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in spans]
    shown = ", ".join(parts[:limit])
    return shown + (f", … ({len(parts) - limit} more ranges)" if len(parts) > limit else "")


async def exactly_once_problems(pool: asyncpg.Pool, schema: str, store: EventStore) -> list[str]:
    """Everything that differs from "every event of the log applied exactly once, in order, nothing parked"."""
    facts = await read_log_facts(store)
    async with pool.acquire() as conn:
        applied = {r["seq"]: r["times"] for r in await conn.fetch(f"SELECT seq, times FROM {schema}.applied")}
        aggregates = await conn.fetch(f"SELECT id, n, last_version, out_of_order FROM {schema}.per_aggregate")
        parked = await conn.fetch(f"SELECT seq, reason FROM {schema}._dead_letter ORDER BY seq LIMIT 5")
    problems: list[str] = []
    missing = [seq for seq in facts.seqs if seq not in applied]
    if missing:
        by_partition: dict[int, list[int]] = defaultdict(list)
        for seq in missing:
            by_partition[facts.seqs[seq][0]].append(seq)
        detail = "; ".join(f"partition {p}: {_ranges(s)}" for p, s in sorted(by_partition.items()))
        problems.append(f"{len(missing)} of {len(facts.seqs)} events never applied (skipped): {detail}")
    twice = [seq for seq, times in applied.items() if times != 1]
    if twice:
        problems.append(
            f"{len(twice)} events applied more than once: "
            + ", ".join(f"seq {seq} x{applied[seq]}" for seq in sorted(twice)[:12])
        )
    unknown = [seq for seq in applied if seq not in facts.seqs]
    if unknown:
        problems.append(f"applied sequences the log does not hold: {_ranges(unknown)}")
    counted = {r["id"]: r for r in aggregates}
    wrong: list[str] = []
    for aggregate, expected in sorted(facts.events_by_aggregate.items()):
        row = counted.get(aggregate)
        if row is None or row["n"] != expected or row["last_version"] != facts.last_version[aggregate]:
            got = "nothing" if row is None else f"n={row['n']} last_version={row['last_version']}"
            wrong.append(f"aggregate {aggregate}: log has {expected} events, read model counted {got}")
        elif row["out_of_order"]:
            wrong.append(f"aggregate {aggregate}: {row['out_of_order']} events applied out of version order")
    problems.extend(wrong[:8])
    if len(wrong) > 8:
        problems.append(f"… and {len(wrong) - 8} more aggregates")
    if parked:
        problems.append("events parked in _dead_letter: " + json.dumps([dict(r) for r in parked], default=str))
    return problems


async def assert_exactly_once(pool: asyncpg.Pool, schema: str, store: EventStore) -> None:
    problems = await exactly_once_problems(pool, schema, store)
    assert not problems, "the projection did not apply every event exactly once:\n- " + "\n- ".join(problems)


async def caught_up(pool: asyncpg.Pool, schema: str, facts: LogFacts) -> bool:
    """True when, in every partition, the newest event of the log has been applied (older ones may be missing:
    `assert_exactly_once` says which), so a test can wait for the end of a run even when events were skipped."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT partition, max(seq) AS top FROM {schema}.applied GROUP BY partition")
    top = {r["partition"]: r["top"] for r in rows}
    return all(top.get(p, 0) >= last for p, last in facts.last_by_partition.items())


@asynccontextmanager
async def counting_runtime(
    settings: Settings,
    *,
    run_projection: bool = True,
    after_commit: AfterCommit | None = None,
) -> AsyncIterator[Runtime]:
    """The counting projection (service `counter`) in this process, as one more replica of it; with
    `run_projection=False` only its connections, for a test that watches replicas running elsewhere."""
    runtime = await Runtime.start(
        COUNTER,
        settings,
        CountingReadModel(settings.replica_id),
        run_projection=run_projection,
        after_commit=after_commit,
    )
    try:
        yield runtime
    finally:
        await runtime.stop()
