"""Prometheus metrics of a service (docs/adr/0035), served on `/metrics` of each service's own port.

Counted as things happen (one call each, no I/O): command latency, reaction and timer runs, deliveries, batches.
Read on scrape (a few NATS and PostgreSQL requests per scrape, none on the command path): each consumer group's
pending events, lag and checkpoint per partition this replica holds, the leases it holds, parked events.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from shared.consumer import PartitionedConsumer
    from shared.runtime import Runtime

# Commands answer in milliseconds; the slow tail (a lost race retried, a dependency slow) goes to seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COMMAND_SECONDS = Histogram(
    "tiaodu_command_duration_seconds",
    "Time to answer a command (a request that is not GET/HEAD), by service and operation (method and route).",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
)
REACTION_EVENTS = Counter(
    "tiaodu_reaction_events",
    "Events a reaction has handled (outcome handled) or parked (outcome parked), committed.",
    ["service", "reaction", "outcome"],
)
TIMER_RUNS = Counter(
    "tiaodu_timer_runs",
    "Periods a timer has run (outcome ok) or failed to run (outcome failed).",
    ["service", "timer", "outcome"],
)
DELIVERIES = Counter(
    "tiaodu_deliveries", "Delivery attempts of notifications by channel and outcome.", ["channel", "outcome"]
)
CONSUMER_BATCHES = Counter("tiaodu_consumer_batches", "Batches a consumer group has committed.", ["service", "group"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Several API worker processes behind one port (TIAODU_WORKERS > 1): each writes its counters and histograms to
# files in this directory (prometheus-client's multiprocess mode), and a scrape, whichever worker it reaches, sums
# the files of all of them. prometheus-client reads the variable when it is first imported, so shared.serve sets it
# before uvicorn starts the workers.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(service: str) -> str:
    """Give the workers about to start an empty directory for their metrics: the operator's PROMETHEUS_MULTIPROC_DIR
    emptied (files of an earlier run would count again), or a new one of this run."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in Path(path).glob("*.db"):  # the files only: the folder may be a mount point (an emptyDir)
            stale.unlink()
    else:
        path = tempfile.mkdtemp(prefix=f"tiaodu-{service}-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def worker_exited(pid: int) -> None:
    """A worker stopping: its live gauges leave the sums (its counters stay: what it counted happened)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def process_registry() -> CollectorRegistry:
    """Where the counters and histograms are read: this process's registry, or all workers' files summed."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _stream_time(headers: dict[str, str] | None) -> float | None:
    """The wall-clock time the stream stored a message (Nats-Time-Stamp of a direct get), in epoch seconds."""
    stamp = (headers or {}).get("Nats-Time-Stamp")
    if not stamp:
        return None
    # RFC 3339 with nanoseconds: keep microseconds, which is what datetime holds.
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00"))
    return datetime.fromisoformat(stamp).timestamp()


@dataclass
class GroupReading:
    group: str
    held: list[int]
    checkpoints: dict[int, int]
    pending: dict[int, int]
    lag_s: dict[int, float]
    parked: int


@dataclass(eq=False)  # registered in a registry: hashed by identity
class RuntimeMetrics(Collector):
    """What one runtime reports on scrape: read by `refresh` (async), then exposed by `collect` (sync)."""

    service: str
    replica: str
    readings: list[GroupReading] = field(default_factory=list)
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=False))

    def __post_init__(self) -> None:
        self.registry.register(self)

    async def refresh(self, runtime: Runtime) -> None:
        groups: list[PartitionedConsumer] = [runtime.runner, *runtime.reactions]
        parked = await _parked_by_group(runtime)
        self.readings = [await _read_group(runtime, consumer, parked.get(consumer.group, 0)) for consumer in groups]

    def exposition(self) -> bytes:
        """The counters and histograms (this process's, or every API worker's summed), then this runtime's gauges
        (one text document)."""
        return generate_latest(process_registry()) + generate_latest(self.registry)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        labels = ["service", "group", "partition"]
        pending = GaugeMetricFamily(
            "tiaodu_consumer_pending_events",
            "Events stored and not yet delivered to the partition's holder.",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "tiaodu_consumer_lag_seconds",
            "Age of the oldest event of the partition the group has not committed (0 when caught up).",
            labels=labels,
        )
        checkpoint = GaugeMetricFamily(
            "tiaodu_consumer_checkpoint_seq", "Stream sequence the group has committed up to.", labels=labels
        )
        held = GaugeMetricFamily(
            "tiaodu_lease_held",
            "1 for each partition whose lease this replica holds.",
            labels=["service", "group", "partition", "replica"],
        )
        parked = GaugeMetricFamily(
            "tiaodu_parked_events", "Events a consumer group parked (in _dead_letter).", labels=["service", "group"]
        )
        for r in self.readings:
            parked.add_metric([self.service, r.group], r.parked)
            for partition, seq in r.checkpoints.items():
                checkpoint.add_metric([self.service, r.group, str(partition)], seq)
            for partition in r.held:
                key = [self.service, r.group, str(partition)]
                held.add_metric([*key, self.replica], 1)
                pending.add_metric(key, r.pending.get(partition, 0))
                lag.add_metric(key, r.lag_s.get(partition, 0.0))
        return [pending, lag, checkpoint, held, parked]


async def _parked_by_group(runtime: Runtime) -> dict[str, int]:
    async with runtime.pool.acquire(timeout=2) as conn:
        rows = await conn.fetch(f"SELECT grp, count(*) AS n FROM {runtime.schema}._dead_letter GROUP BY grp")
    return {r["grp"]: int(r["n"]) for r in rows}


async def _read_group(runtime: Runtime, consumer: PartitionedConsumer, parked: int) -> GroupReading:
    held = sorted(consumer.leases.held)
    checkpoints = await consumer.checkpoints()
    pending: dict[int, int] = {}
    lag: dict[int, float] = {}
    for partition in held:
        try:
            info = await runtime.js.consumer_info(runtime.store.stream, consumer.consumer_name(partition))
            pending[partition] = int(info.num_pending or 0)
        except NotFoundError:
            pending[partition] = 0  # the holder is creating it
        lag[partition] = await _lag_s(runtime, consumer, partition, checkpoints.get(partition, 0))
    return GroupReading(consumer.group, held, checkpoints, pending, lag, parked)


async def _lag_s(runtime: Runtime, consumer: PartitionedConsumer, partition: int, checkpoint: int) -> float:
    nxt = await consumer.next_of_mine(partition, checkpoint)
    if nxt is None:
        return 0.0
    msg = await runtime.js.get_msg(runtime.store.stream, seq=nxt, direct=True)
    stored = _stream_time(msg.headers)
    return max(0.0, time.time() - stored) if stored is not None else 0.0


def metric_names() -> Sequence[str]:
    """Every metric family a service exposes (the dashboard test checks its expressions against these)."""
    counters = [f"{c._name}_total" for c in (REACTION_EVENTS, TIMER_RUNS, DELIVERIES, CONSUMER_BATCHES)]
    histogram = [f"{COMMAND_SECONDS._name}_{suffix}" for suffix in ("bucket", "sum", "count")]
    gauges = [
        "tiaodu_consumer_pending_events",
        "tiaodu_consumer_lag_seconds",
        "tiaodu_consumer_checkpoint_seq",
        "tiaodu_lease_held",
        "tiaodu_parked_events",
    ]
    return [*histogram, *counters, *gauges]
