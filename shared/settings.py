"""Settings read from the environment, once, by a service's composition root (never at import time)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime

from shared.clock import Clock, ShiftedClock, SystemClock
from shared.platform_clock import PlatformClock
from shared.schedule import Schedule

# Timer name -> schedule; each can be set with TIAODU_SCHEDULE_<NAME> (e.g. TIAODU_SCHEDULE_DAILY_MONITORING).
DEFAULT_SCHEDULES = {
    "daily_monitoring": "daily 06:00", "issue_escalation": "daily 18:30", "supervision_reminders": "daily 09:00",
    "issue_deadline_notices": "daily 08:30",  # issues and 督办 orders 3 and 1 working days before their deadline
    # notification's digests: held notifications gathered, and the sponsoring leaders' weekly digest
    "notification_digest_daily": "daily 08:00", "notification_digest_weekly": "weekly mon 08:00",
    "leader_weekly_digest": "weekly mon 08:30",
    "audit_seal": "every 5m",  # audit's seal of the log (docs/adr/0030)
    "year_end_evaluation": "daily 07:00",  # scheduling records each closed programme year's evaluation (ADR 0037)
}  # fmt: skip


def schedules_from_env() -> dict[str, str]:
    schedules = dict(DEFAULT_SCHEDULES)
    if at := os.environ.get("TIAODU_MONITOR_AT"):  # the older, narrower setting
        schedules["daily_monitoring"] = f"daily {at}"
    for name in DEFAULT_SCHEDULES:
        if value := os.environ.get(f"TIAODU_SCHEDULE_{name.upper()}"):
            schedules[name] = value
    return schedules


def clock_start_from_env() -> datetime | None:
    value = os.environ.get("TIAODU_CLOCK_START")
    if not value:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RuntimeError(f"TIAODU_CLOCK_START: {exc}") from exc
    if start.tzinfo is None:
        raise RuntimeError("TIAODU_CLOCK_START needs an offset, e.g. 2024-09-30T05:00:00+08:00")
    return start


PROCESS_ROLES = ("all", "api", "worker")

# Partition leases (shared.leases; docs/operations.md, "A lost replica"): a SIGKILLed replica's share is taken by the
# others within TTL + one lease tick + the tick's own round trips. 4 s keeps that well under issue 12's 10 s on a
# loaded host, and the tick, a quarter of the TTL, renews three times before a lease could lapse.
DEFAULT_LEASE_TTL_S = 4.0
LEASE_TICKS_PER_TTL = 4
MAX_LEASE_TICK_S = 1.0  # longer TTLs (tests that must tell a release from an expiry) still tick every second
MIN_LEASE_TTL_S = 2.0  # below this a busy event loop or a slow KV round trip makes leases flap


def nats_servers(url: str) -> list[str]:
    """NATS_URL may name several servers of one cluster, comma-separated (docker-compose.yml's three nodes): the
    client connects to the first that answers and fails over to the others."""
    return [part.strip() for part in url.split(",") if part.strip()]


@dataclass(frozen=True)
class Settings:
    nats_url: str
    database_url: str
    environment: str = "development"
    stream: str = "TIAODU"
    subject_prefix: str = "tiaodu"
    partitions: int = 4
    stream_replicas: int = 1
    replica_id: str = field(default_factory=socket.gethostname)
    service_port: int = 0
    nats_user: str | None = None
    nats_password: str | None = None
    read_wait_default_s: float = 2.0
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    timer_poll_s: float = 30.0
    # How long a projection waits after a partial batch before fetching again (TIAODU_PROJECTION_LINGER_MS): a few
    # milliseconds more lag buy batches several times larger, and a batch's cost is mostly per batch.
    projection_linger_s: float = 0.04
    # Timer schedules (shared.timers.Schedule): when each service's time-driven work runs, China time.
    schedules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SCHEDULES))
    # Where the platform clock starts (TIAODU_CLOCK_START, ISO 8601 with offset); None: the real time. `make run`'s
    # demo sets it to its simulated day so that lights, monitoring and timers agree with the seeded year.
    clock_start: datetime | None = None
    # What this process does (TIAODU_ROLE): `all` (API and background work), `api` (HTTP only: reads wait on the
    # checkpoints a worker commits) or `worker` (projection, reactions, timers; health endpoints only).
    process_role: str = "all"
    # API processes behind this process's port (TIAODU_WORKERS): uvicorn's own supervisor forks and restarts them.
    api_workers: int = 1
    # The Linux scheduling policy of a worker-only process (TIAODU_WORKER_SCHED): `batch` or `normal` (shared.serve).
    worker_sched: str = "batch"
    # How much lower a worker-only process's priority is than the API's (TIAODU_WORKER_NICE, 0-19; shared.serve).
    worker_nice: int = 0

    @property
    def lease_tick_s(self) -> float:
        """How often a consumer group renews its leases, counts the live replicas and takes a free share."""
        return min(MAX_LEASE_TICK_S, self.lease_ttl_s / LEASE_TICKS_PER_TTL)

    @property
    def runs_api(self) -> bool:
        return self.process_role in ("all", "api")

    @property
    def runs_background(self) -> bool:
        return self.process_role in ("all", "worker")

    def clock(self) -> Clock:
        base: Clock = SystemClock() if self.clock_start is None else ShiftedClock(self.clock_start)
        # In development every process follows the offset in the lease bucket (demo clock, docs/adr/0016).
        return PlatformClock(base) if self.environment == "development" else base

    def schedule(self, timer: str) -> Schedule:
        return Schedule.parse(self.schedules.get(timer) or DEFAULT_SCHEDULES[timer])

    @classmethod
    def from_env(cls, service: str) -> Settings:
        missing = [name for name in ("NATS_URL", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"{service}: environment variable(s) {', '.join(missing)} must be set")
        env = os.environ.get("TIAODU_ENV", "development")
        settings = cls(
            nats_url=os.environ["NATS_URL"],
            database_url=os.environ["DATABASE_URL"],
            environment=env,
            stream=os.environ.get("TIAODU_STREAM", "TIAODU"),
            subject_prefix=os.environ.get("TIAODU_SUBJECT_PREFIX", "tiaodu"),
            partitions=int(os.environ.get("TIAODU_PARTITIONS", "4")),
            stream_replicas=int(os.environ.get("TIAODU_STREAM_REPLICAS", "1")),
            replica_id=os.environ.get("REPLICA_ID") or f"{service}-{socket.gethostname()}-{os.getpid()}",
            service_port=int(os.environ.get("SERVICE_PORT", "0")),
            nats_user=os.environ.get("NATS_USER") or None,
            nats_password=os.environ.get("NATS_PASSWORD") or None,
            timer_poll_s=float(os.environ.get("TIAODU_TIMER_POLL_S", "30")),
            projection_linger_s=float(os.environ.get("TIAODU_PROJECTION_LINGER_MS", "40")) / 1000,
            schedules=schedules_from_env(),
            clock_start=clock_start_from_env(),
            process_role=os.environ.get("TIAODU_ROLE", "all"),
            api_workers=int(os.environ.get("TIAODU_WORKERS", "1")),
            worker_sched=os.environ.get("TIAODU_WORKER_SCHED", "batch"),
            worker_nice=int(os.environ.get("TIAODU_WORKER_NICE", "0")),
            # How long a dead replica's partitions stay its own before another takes them (docs/adr/0002, 0034).
            lease_ttl_s=float(os.environ.get("TIAODU_LEASE_TTL_S", DEFAULT_LEASE_TTL_S)),
        )
        if settings.process_role not in PROCESS_ROLES:
            raise RuntimeError(f"TIAODU_ROLE: {settings.process_role!r} is not one of {', '.join(PROCESS_ROLES)}")
        if settings.worker_sched not in ("batch", "normal"):
            raise RuntimeError(f"TIAODU_WORKER_SCHED: {settings.worker_sched!r} is not one of batch, normal")
        if not 0 <= settings.worker_nice <= 19:
            raise RuntimeError(f"TIAODU_WORKER_NICE: {settings.worker_nice} must be between 0 and 19")
        if not 0 <= settings.projection_linger_s <= 1:
            raise RuntimeError("TIAODU_PROJECTION_LINGER_MS: must be between 0 and 1000")
        if settings.lease_ttl_s < MIN_LEASE_TTL_S:
            ttl = settings.lease_ttl_s
            raise RuntimeError(f"TIAODU_LEASE_TTL_S: {ttl:g} is below {MIN_LEASE_TTL_S:g} s (leases would flap)")
        if settings.api_workers < 1:
            raise RuntimeError(f"TIAODU_WORKERS: {settings.api_workers} must be at least 1")
        for timer in settings.schedules:
            try:
                settings.schedule(timer)
            except ValueError as exc:
                raise RuntimeError(f"TIAODU_SCHEDULE_{timer.upper()}: {exc}") from exc
        if env == "production" and "@" not in settings.database_url:
            raise RuntimeError("TIAODU_ENV=production requires credentials in DATABASE_URL")
        return settings
