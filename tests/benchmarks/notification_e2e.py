"""The notification round of `make bench` (issue 10): source event appended -> signed webhook received, p50/p99/max,
none lost.

On the platform the bench has just started (intake, the demo organisations): the notification service as its own
process with its own NATS user, a real webhook receiver in another process (webhook_receiver.py, verifying every
signature with the Standard Webhooks library), a few projects of several demo units registered through intake's
API and a webhook contact point for each unit through notification's API. Then, at a steady rate, what the daily
monitoring appends when a weekly report is missing, `ReportOverdueFlagged` (the default rule `report-missing` routes
it to the project's unit), written through the EventStore as `admin`, as the bench's generator writes. Each flag
is one notification; its webhook-id is derived from the source event (the service's own `notification_id`), so the
bench knows which webhook answers which event. A latency runs from the flag's acknowledgement (it is in the log) to
the webhook's arrival at the receiver, both read from the machine's wall clock in two processes.

The round runs on the fresh platform (notification's projection would otherwise first fold the whole history) and
stops its service before anything else is measured; the ~2,000 events it leaves in the log are a few per thousand of
the bench's million. `python -m tests.benchmarks.notification_e2e` runs it alone on fresh servers and prints the
figures (BENCH_NOTIFY_* below size it).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.notification.channels.webhook import new_webhook_secret
from services.notification.domain import notification_id
from services.scheduling.domain_monitoring import day_id
from shared.catalogue.notification_rules import default_rules
from shared.catalogue.scheduling import ReportOverdueFlagged
from shared.devstack.children import stop_processes
from shared.devstack.embedded import free_port
from shared.envelope import Actor, Role
from shared.eventstore import Context, EventStore
from shared.runtime import connect_nats
from tests.benchmarks.e2e_figures import Expected, Paired, pair, summary
from tests.benchmarks.generator import Writer
from tests.benchmarks.platform import Platform, token_known
from tests.benchmarks.processes import machine_busy_seconds, start_tool
from tests.benchmarks.servers import BenchServers, bench_servers
from tests.platform import project_body

RULE_ID = "report-missing"  # the default routing rule for ReportOverdueFlagged: the project's unit hears of it
# The person the rule names (the unit's 联络员): part of each notification's id.
RULE_PERSON = next(r.person for r in default_rules() if r.rule_id == RULE_ID)
MONITOR = Actor(org_id="platform", role=Role.SYSTEM, user="scheduling-monitor")  # who appends flags in production
FIRST_DAY = date(2024, 3, 4)  # the monitoring days the flags are for, one after another


@dataclass(frozen=True)
class RoundConfig:
    rate: float = float(os.environ.get("BENCH_NOTIFY_RATE", 20))  # source events per second
    seconds: float = float(os.environ.get("BENCH_NOTIFY_SECONDS", 20))
    units: int = int(os.environ.get("BENCH_NOTIFY_UNITS", 5))  # demo units, each with its own contact point
    projects_per_unit: int = int(os.environ.get("BENCH_NOTIFY_PROJECTS", 4))
    drain_s: float = float(os.environ.get("BENCH_NOTIFY_DRAIN_S", 60))  # after the last flag: what is not in is lost


@dataclass(frozen=True)
class Sent:
    event_id: uuid.UUID
    unit: str
    sent_at: float  # the append started
    acked_at: float  # the log acknowledged it


class LostNotifications(RuntimeError):
    pass


async def _receiver_ready(
    http: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes], timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise RuntimeError(f"webhook receiver exited with {proc.returncode}: {err.decode()[-2000:]}")
        try:
            if (await http.get(f"{url}/count")).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def _projects(platform: Platform, units: list[str], per_unit: int) -> list[tuple[str, str]]:
    """`per_unit` projects of each unit through intake's API; answers (project id, unit)."""
    leader = next(iter(platform.tokens["leaders"]))
    headers = {"Authorization": f"Bearer {platform.tokens['hq']}"}
    found = []
    async with httpx.AsyncClient(base_url=platform.api_url, headers=headers, timeout=60) as client:
        for unit in units:
            for k in range(per_unit):
                body = project_body(name=f"通知压测项目{unit}-{k}", unit_id=unit, sponsor_leader_id=leader)
                r = await client.post("/v1/projects", json=body)
                if r.status_code != 201:
                    raise RuntimeError(f"project of {unit}: {r.status_code} {r.text}")
                found.append((str(r.json()["id"]), unit))
    return found


async def _contact_points(platform: Platform, secrets: dict[str, str], receiver_url: str) -> None:
    """A webhook contact point per unit (hq sets them), then until notification's read model has them (and with
    them the projects registered before)."""
    headers = {"Authorization": f"Bearer {platform.tokens['hq']}"}
    base = platform.services["notification"].url
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        await token_known(client, "/v1/contact-points")
        last = 0
        for unit, secret in secrets.items():
            body = {"org_id": unit, "kind": "webhook", "address": f"{receiver_url}/hooks/{unit}", "secret": secret,
                    "label": "压测接收端"}  # fmt: skip
            r = await client.post("/v1/contact-points", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"contact point of {unit}: {r.status_code} {r.text}")
            last = max(last, int(r.json()["seq"]))
        r = await client.get("/v1/contact-points", params={"org_id": unit, "min_seq": last, "wait_ms": 30000})
        if r.status_code != 200:
            raise RuntimeError(f"notification's read model did not reach seq {last}: {r.status_code} {r.text}")


async def _append_flags(store: EventStore, projects: list[tuple[str, str]], config: RoundConfig) -> list[Sent]:
    """One flag every 1/rate seconds (open loop: a slow append delays only what follows it, and shows in the achieved
    rate); a monitoring day's flags go to that day's aggregate in order, as the daily monitoring appends them."""
    loop = asyncio.get_running_loop()
    count = max(1, round(config.rate * config.seconds))
    writers: dict[date, Writer] = {}
    sent: list[Sent] = []
    start = loop.time()
    for i in range(count):
        day = FIRST_DAY + timedelta(days=i // len(projects))
        project_id, unit = projects[i % len(projects)]
        if (delay := start + i / config.rate - loop.time()) > 0:
            await asyncio.sleep(delay)  # pacing the load, not waiting for a fact
        if day not in writers:
            ctx = Context(actor=MONITOR, correlation_id=f"bench-monitoring-{day_id(day)}")
            writers = {day: Writer("monitoring", day_id(day), ctx)}
        year, week, _ = (day - timedelta(days=7)).isocalendar()
        flag = ReportOverdueFlagged(day=day, project_id=project_id, unit_id=unit, last_period_end=None,
                                    days_since=(day - FIRST_DAY).days + 7, week=f"{year}-W{week:02d}",
                                    weeks_missing=1)  # fmt: skip
        before = time.time()
        stored = await writers[day].append_now(store, flag, day)
        sent.append(Sent(stored.envelope.id, unit, before, time.time()))
    return sent


async def _drained(http: httpx.AsyncClient, url: str, expected: int, timeout: float) -> None:
    """Until the receiver has as many verified webhooks as notifications are expected, or the time is up (what is
    missing then is counted lost)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await http.get(f"{url}/count")).json()["count"] >= expected:
            return
        await asyncio.sleep(0.2)


async def _requested_at(database_url: str, ids: list[str]) -> dict[str, float]:
    """When notification recorded each request (its envelope's time, in its read model): the stage split."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT notification_id, extract(epoch FROM recorded_at)::float8 AS at FROM notification.notifications"
            " WHERE notification_id = ANY($1::text[])",
            ids,
        )
    finally:
        await conn.close()
    return {r["notification_id"]: float(r["at"]) for r in rows}


async def notification_round(
    servers: BenchServers, platform: Platform, store: EventStore, figures: dict[str, Any], detail: dict[str, Any],
    config: RoundConfig | None = None,
) -> None:  # fmt: skip
    """Measure, fill `figures` and `detail["notification_e2e"]`; raise when a notification was lost or a signature
    did not verify (after the figures are in: the run records the failure beside them)."""
    config = config or RoundConfig()
    units = list(platform.tokens["units"])[: config.units]
    secrets = {unit: new_webhook_secret() for unit in units}
    port = free_port()
    receiver = start_tool("tests.benchmarks.webhook_receiver", {"port": port, "secrets": secrets})
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            await _receiver_ready(http, url, receiver)
            projects = await _projects(platform, units, config.projects_per_unit)
            await asyncio.to_thread(platform.start_notification)
            try:
                await _contact_points(platform, secrets, url)
                service = platform.services["notification"]
                cpu_before, machine_before, t0 = sum(service.cpu().values()), machine_busy_seconds(), time.monotonic()
                sent = await _append_flags(store, projects, config)
                await _drained(http, url, len(sent), config.drain_s)
                cpu = sum(service.cpu().values()) - cpu_before
                busy = (machine_busy_seconds() - machine_before) / (time.monotonic() - t0)
                answer = (await http.get(f"{url}/arrivals")).json()
            finally:
                await asyncio.to_thread(platform.stop, "notification")
    finally:
        stop_processes([receiver])
    ids = [notification_id(s.event_id, RULE_ID, s.unit, RULE_PERSON) for s in sent]
    requested = await _requested_at(servers.settings.database_url, ids)
    expected = [Expected(nid, s.acked_at, requested.get(nid)) for nid, s in zip(ids, sent, strict=True)]
    paired = pair(expected, answer["first"])
    figures_of(figures, detail, config, sent, paired, answer, cpu)
    detail["notification_e2e"]["machine_busy_cores"] = round(busy, 2)  # anyone's processes: a shared machine shows
    if paired.lost or answer["bad_signatures"]:
        lost = f"{len(paired.lost)} of {len(sent)} notifications never arrived (e.g. {paired.lost[:3]})"
        raise LostNotifications(f"{lost}, {answer['bad_signatures']} signatures did not verify")


def figures_of(figures: dict[str, Any], detail: dict[str, Any], config: RoundConfig, sent: list[Sent], paired: Paired,
               answer: dict[str, Any], cpu: float) -> None:  # fmt: skip
    latency = summary(paired.latencies_ms, lost=len(paired.lost))
    figures["notification_e2e_p50_ms"] = latency["p50_ms"]
    figures["notification_e2e_p99_ms"] = latency["p99_ms"]
    figures["notification_e2e_max_ms"] = latency["max_ms"]
    figures["notification_e2e_count"] = len(paired.latencies_ms)
    figures["notification_e2e_lost"] = len(paired.lost)
    span = sent[-1].acked_at - sent[0].sent_at
    detail["notification_e2e"] = {
        "config": asdict(config), "expected": len(sent), "received": len(paired.latencies_ms),
        "lost": len(paired.lost), "lost_ids": paired.lost[:10], "unexpected": paired.unexpected,
        "repeats": answer["repeats"], "bad_signatures": answer["bad_signatures"], "unknown": answer["unknown"],
        "appended_per_s": round(len(sent) / span, 1) if span > 0 else None,
        "append_ms": summary([(s.acked_at - s.sent_at) * 1000 for s in sent]),
        "latency_ms": latency, "routing_ms": summary(paired.routing_ms), "delivery_ms": summary(paired.delivery_ms),
        "cpu_s": round(cpu, 2), "cpu_ms_per_notification": round(cpu * 1000 / max(len(sent), 1), 2),
    }  # fmt: skip


async def round_alone(
    servers: BenchServers, logs: Path, figures: dict[str, Any], detail: dict[str, Any],
    config: RoundConfig | None = None, *, split: bool = True,
) -> None:  # fmt: skip
    """The round alone on `servers`: the demo organisations and intake as the bench starts them, the programme the
    projects belong to, then `notification_round`; every process stopped after it. `split` False runs intake as
    one process (a smaller platform: tests/benchmarks/test_harness.py)."""
    platform = Platform(servers, logs, api_workers=1, worker_processes=1, split=split)
    nc = await connect_nats(servers.settings, "bench")
    try:
        await asyncio.to_thread(platform.bootstrap_demo)
        await asyncio.to_thread(platform.start_intake)
        await platform.register_projects(0)  # the programme the projects belong to
        s = servers.settings
        store = EventStore(nc.jetstream(), stream=s.stream, prefix=s.subject_prefix, partitions=s.partitions)
        await notification_round(servers, platform, store, figures, detail, config)
    finally:
        await nc.close()
        platform.stop_all()


async def main() -> None:
    """The round alone on fresh servers; prints the figures (also those measured before a failure)."""
    figures: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    async with bench_servers() as servers:
        logs = Path(tempfile.mkdtemp(prefix="tiaodu-bench-logs-"))
        try:
            await round_alone(servers, logs, figures, detail)
        finally:
            print(json.dumps({"figures": figures, "detail": detail, "logs": str(logs)}, ensure_ascii=False,
                             indent=2), flush=True)  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
