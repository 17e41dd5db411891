"""Replica processes of the counting projection (tests.shared.replica_proc), and the facts a test watches.

Each replica is a real OS process, so SIGKILL and SIGSTOP do to it what they do in production: no `finally`
runs, its TCP connections stay open while it is frozen, its PostgreSQL transaction is left open or cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg

from shared.devstack.embedded import tail
from shared.settings import Settings
from tests.platform import wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ReplicaProcess:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    expected_exit: bool = False

    def send(self, sig: signal.Signals) -> None:
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.expected_exit = True
        os.kill(self.proc.pid, sig)

    def describe(self) -> str:
        state = "running" if self.proc.returncode is None else f"exited with {self.proc.returncode}"
        return f"--- replica {self.name} ({state}), {self.log}:\n{tail(self.log, 40)}"


@dataclass
class Fleet:
    """Starts replicas, stops every one of them at the end, and shows their logs when the test failed."""

    settings: Settings
    log_dir: Path
    batch: int = 50
    module: str = "tests.shared.replica_proc"  # what each replica runs (tests.shared.timer_proc: a probe timer)
    env: dict[str, str] = field(default_factory=dict)  # more settings for every replica
    replicas: dict[str, ReplicaProcess] = field(default_factory=dict)

    async def start(self, name: str) -> ReplicaProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "NATS_URL": self.settings.nats_url,
            # The application name lets a test see the replica's open transaction in pg_stat_activity.
            "DATABASE_URL": f"{self.settings.database_url}?application_name={name}",
            "TIAODU_STREAM": self.settings.stream,
            "TIAODU_SUBJECT_PREFIX": self.settings.subject_prefix,
            "TIAODU_PARTITIONS": str(self.settings.partitions),
            "TIAODU_LEASE_TTL_S": str(self.settings.lease_ttl_s),
            "REPLICA_ID": name,
            "PROJECTION_BATCH": str(self.batch),
            **self.env,
        }
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, cwd=ROOT, env=env, stdout=out, stderr=out
            )
        self.replicas[name] = ReplicaProcess(name, proc, log)
        return self.replicas[name]

    def check_alive(self) -> None:
        """A replica that died on its own is a failure in itself; say so with its log."""
        for replica in self.replicas.values():
            if replica.proc.returncode is not None and not replica.expected_exit:
                raise AssertionError(f"replica {replica.name} exited on its own\n{replica.describe()}")

    async def start_sharing(self, names: list[str], pool: asyncpg.Pool, schema: str, timeout: float) -> None:
        """Start a replica per name and wait until each applies a share of the partitions (and none died)."""
        for name in names:
            await self.start(name)

        async def all_sharing() -> bool:
            self.check_alive()
            return set((await owners(pool, schema)).values()) == set(names)

        await wait_until(all_sharing, timeout, f"{len(names)} replicas each applying a share of the partitions")

    def logs(self) -> str:
        return "\n".join(r.describe() for r in self.replicas.values())

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for replica in self.replicas.values():
            if replica.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(replica.proc.pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
                    replica.send(signal.SIGTERM)
        for replica in self.replicas.values():
            try:
                await asyncio.wait_for(replica.proc.wait(), timeout=5)
            except TimeoutError:
                replica.send(signal.SIGKILL)
                await replica.proc.wait()
        if exc is not None:
            print(self.logs())  # pytest shows it under "Captured stdout" of the failed test


async def owners(pool: asyncpg.Pool, schema: str) -> dict[int, str]:
    """partition -> the replica that applied its newest event so far."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT DISTINCT ON (partition) partition, replica FROM {schema}.applied ORDER BY partition, seq DESC"
        )
    return {r["partition"]: r["replica"] for r in rows}


async def top_seq(pool: asyncpg.Pool, schema: str, partition: int, *, not_by: str = "") -> int:
    """The newest sequence applied in a partition (by anyone but `not_by`), 0 if none."""
    async with pool.acquire() as conn:
        top = await conn.fetchval(
            f"SELECT max(seq) FROM {schema}.applied WHERE partition = $1 AND replica <> $2", partition, not_by
        )
    return int(top or 0)


async def applied_by(pool: asyncpg.Pool, schema: str, replica: str, partition: int, after_seq: int) -> int:
    async with pool.acquire() as conn:
        n = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.applied WHERE replica = $1 AND partition = $2 AND seq > $3",
            replica,
            partition,
            after_seq,
        )
    return int(n)


async def in_open_transaction(pool: asyncpg.Pool, replica: str) -> bool:
    """True while the replica holds a PostgreSQL transaction that has written (locked the checkpoint row or
    inserted rows): it is in the middle of applying a batch."""
    async with pool.acquire() as conn:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = $1 AND backend_xid IS NOT NULL",
            replica,
        )
    return bool(found)
