"""Baseline: the same command with the Python `eventsourcing` library (what a Python team would pick instead).

`python -m tests.benchmarks.es_baseline '<job>'` with {"host", "port", "dbname", "user", "aggregates", "threads",
"seconds", "cache"}: an application whose aggregate records a progress report, stored in PostgreSQL through the
library's own POSTGRES_* settings (its own database on the bench's server), `threads` threads doing load, decide,
save on aggregates each thread owns (so no thread loses a race); AGGREGATE_CACHE_MAXSIZE set when "cache".
Prints {"count", "errors", "per_s", "p50_ms", "p99_ms"}.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from tests.benchmarks.http_load import quantiles_ms
from tests.benchmarks.processes import job_argument


class Project(Aggregate):
    """A project's ledger, as intake keeps it: each report adds to the cumulative investment (derived, not sent)."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.cumulative_investment = "0"
        self.reports = 0

    @event("ProgressReported")
    def report_progress(self, period_end: str, investment_this_period: str, cumulative_investment: str) -> None:
        self.cumulative_investment = cumulative_investment
        self.reports += 1


class Ledger(Application[UUID]):
    def register(self, name: str) -> UUID:
        project = Project(name)
        self.save(project)
        return project.id

    def report_progress(self, project_id: UUID, investment: str) -> int:
        """Load, decide (the cumulative figure is derived from the state), save: one command."""
        project: Project = self.repository.get(project_id)
        cumulative = str(Decimal(project.cumulative_investment) + Decimal(investment))
        project.report_progress("2024-03-07", investment, cumulative)
        self.save(project)
        return int(project.version)


def run(job: dict[str, Any]) -> dict[str, Any]:
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": job["dbname"],
        "POSTGRES_HOST": job["host"],
        "POSTGRES_PORT": str(job["port"]),
        "POSTGRES_USER": job["user"],
        "POSTGRES_PASSWORD": "",
        "POSTGRES_POOL_SIZE": str(job["threads"]),
        "CREATE_TABLE": "y",
    }
    if job["cache"]:
        env["AGGREGATE_CACHE_MAXSIZE"] = str(job["aggregates"] * 2)
    app = Ledger(env=env)
    ids = [app.register(f"项目{i}") for i in range(job["aggregates"])]
    latencies: list[list[float]] = [[] for _ in range(job["threads"])]
    errors: list[str] = []
    warm_until = time.perf_counter() + 1.0  # connections opened and the cache filled before the clock starts
    start = warm_until
    deadline = warm_until + job["seconds"]

    def worker(index: int, mine: list[UUID]) -> None:
        n = 0
        while (now := time.perf_counter()) < deadline:
            t0 = now
            try:
                app.report_progress(mine[n % len(mine)], "1")
            except Exception as exc:  # a failed command is counted and shown, never hidden
                errors.append(repr(exc)[:200])
            else:
                if t0 >= warm_until:
                    latencies[index].append(time.perf_counter() - t0)
            n += 1

    threads = [threading.Thread(target=worker, args=(i, ids[i :: job["threads"]])) for i in range(job["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = [x for per in latencies for x in per]
    p50, p99 = quantiles_ms(flat)
    app.close()
    return {"count": len(flat), "errors": len(errors), "first_errors": errors[:3], "per_s": len(flat) / elapsed,
            "p50_ms": p50, "p99_ms": p99}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run(job_argument())))
