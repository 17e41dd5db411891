"""Figures read from PostgreSQL: the rebuild of every read model, the COPY baseline, and the projection's lag.

The lag is measured exactly rather than by polling: a trigger the bench adds to `intake._checkpoint` for the length
of the measurement notifies (partition, last_seq) whenever the projection's checkpoint moves; PostgreSQL delivers a
notification when its transaction commits, i.e. when the rows it wrote become visible, and the bench process stamps
it on arrival with CLOCK_MONOTONIC, the clock the load client stamps its acknowledgements with.
"""

from __future__ import annotations

import bisect
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from shared.eventstore import EventStore
from shared.names import PROJECTION_GROUP
from tests.benchmarks.processes import ROOT, clean_env, machine_busy_seconds
from tests.benchmarks.servers import BenchServers

CHANNEL = "bench_checkpoint"


def rebuild_one(servers: BenchServers, name: str, until_seq: int, processes: int) -> dict[str, Any]:
    """A service's read model rebuilt from sequence 1 into a scratch schema, the way an operator runs it:
    `python -m services.<service>.cli rebuild` with the service's own NATS user and `processes` processes; timed
    from outside (the command's start-up included)."""
    command = [sys.executable, "-m", f"services.{name}.cli", "rebuild", "--schema", f"bench_rebuild_{name}",
               "--processes", str(processes), "--until-seq", str(until_seq)]  # fmt: skip
    t0, busy0, cpu0 = time.perf_counter(), machine_busy_seconds(), _children_cpu_seconds()
    done = subprocess.run(command, env=clean_env(**servers.service_env(name)), cwd=ROOT, capture_output=True,
                          text=True, timeout=3600)  # fmt: skip
    seconds = time.perf_counter() - t0
    busy, cpu = machine_busy_seconds() - busy0, _children_cpu_seconds() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{name} rebuild exited with {done.returncode}:\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return {"events_read": until_seq, "applied": answer["applied"], "parked": answer["dead_lettered"],
            "processes": answer["processes"], "command_seconds": answer["seconds"],
            "seconds": round(seconds, 2), "per_s": until_seq / seconds,
            # What bounds it: CPU per event in the rebuild's own processes and in everything else.
            "cpu_us_per_event": round(cpu / until_seq * 1e6, 1),
            "other_cpu_us_per_event": round((busy - cpu) / until_seq * 1e6, 1),
            "machine_busy_cores": round(busy / seconds, 2)}  # fmt: skip


def _children_cpu_seconds() -> float:
    """CPU of every finished child process (and theirs: a rebuild command's own children are waited for by it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ledger_row(i: int) -> tuple[Any, ...]:
    """A row as wide as intake's progress-report ledger row, the most common row a rebuild writes."""
    week = i % 200 + 1
    return (f"r{week}", f"gen-{i // 200:06d}", week + 3, i, date(2024, 3, 1), date(2024, 3, 7), Decimal("10.56"),
            Decimal(i % 20000) / 100, Decimal(i % 100), f"第{week}周:主体结构施工,完成本周计划", "[]",
            f"unit-{i % 40:03d}", datetime(2024, 3, 8, 2, 0, tzinfo=UTC))  # fmt: skip


LEDGER_COLUMNS = """report_id text, project_id text, project_version int, seq bigint, period_start date,
    period_end date, investment_this_period numeric, cumulative_investment numeric, image_progress_pct numeric,
    image_progress_text text, milestones_done jsonb, reported_by text, recorded_at timestamptz"""


async def pg_copy(pool: asyncpg.Pool, rows: int, chunk: int = 50_000) -> dict[str, Any]:
    """COPY `rows` ledger-wide rows into a fresh table in one transaction; only the COPY calls are timed (each
    chunk's rows are made before its clock starts, and only one chunk is held in memory)."""
    seconds = 0.0
    async with pool.acquire() as conn:
        await conn.execute("DROP SCHEMA IF EXISTS bench_copy CASCADE; CREATE SCHEMA bench_copy")
        await conn.execute(f"CREATE TABLE bench_copy.ledger ({LEDGER_COLUMNS})")
        async with conn.transaction():
            for start in range(0, rows, chunk):
                data = [ledger_row(i) for i in range(start, min(rows, start + chunk))]
                t0 = time.perf_counter()
                await conn.copy_records_to_table("ledger", schema_name="bench_copy", records=data)
                seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
        seconds += time.perf_counter() - t0  # the commit
        await conn.execute("DROP SCHEMA bench_copy CASCADE")
    return {"rows": rows, "seconds": round(seconds, 2), "per_s": rows / seconds}


@dataclass
class CheckpointWatch:
    """Every move of a projection's checkpoint: partition -> [(monotonic time, last_seq)] in arrival order."""

    conn: asyncpg.Connection
    schema: str
    moves: dict[int, list[tuple[float, int]]] = field(default_factory=dict)

    @classmethod
    async def start(cls, database_url: str, schema: str) -> CheckpointWatch:
        conn = await asyncpg.connect(database_url)
        watch = cls(conn, schema)
        await conn.execute(f"""
            CREATE OR REPLACE FUNCTION {schema}.bench_checkpoint_moved() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.grp = '{PROJECTION_GROUP}' AND NEW.last_seq > OLD.last_seq THEN
                PERFORM pg_notify('{CHANNEL}', NEW.partition || ' ' || NEW.last_seq);
              END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER bench_checkpoint_moved AFTER UPDATE ON {schema}._checkpoint
              FOR EACH ROW EXECUTE FUNCTION {schema}.bench_checkpoint_moved();
        """)  # fmt: skip
        await conn.add_listener(CHANNEL, watch._moved)
        return watch

    def _moved(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        now = time.monotonic()
        partition, seq = payload.split()
        self.moves.setdefault(int(partition), []).append((now, int(seq)))

    async def stop(self) -> None:
        await self.conn.remove_listener(CHANNEL, self._moved)
        await self.conn.execute(f"""
            DROP TRIGGER bench_checkpoint_moved ON {self.schema}._checkpoint;
            DROP FUNCTION {self.schema}.bench_checkpoint_moved();
        """)  # fmt: skip
        await self.conn.close()

    def lags_ms(self, acks: list[tuple[int, float, int]]) -> tuple[list[float], int]:
        """Lag of each acknowledged (seq, monotonic time, partition): until its partition's checkpoint covers the
        seq (0 when the projection was there before the answer reached the client); also how many never were."""
        lags: list[float] = []
        missing = 0
        seqs = {p: [s for _, s in moves] for p, moves in self.moves.items()}
        for seq, acked, partition in acks:
            moves = self.moves.get(partition, [])
            i = bisect.bisect_left(seqs.get(partition, []), seq)
            if i == len(moves):
                missing += 1
                continue
            lags.append(max(0.0, moves[i][0] - acked) * 1000)
        return lags, missing


async def partitions_of(store: EventStore, first: int, last: int) -> dict[int, int]:
    """seq -> partition of every event in [first, last], from the subjects they are stored on."""
    found: dict[int, int] = {}
    async for chunk in store.read_log(first, until_seq=last):
        for seq, subject, _ in chunk:
            found[seq] = int(subject.split(".")[2])
    return found


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
