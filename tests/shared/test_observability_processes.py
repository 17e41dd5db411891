"""Traces, metrics and logs of real service processes (ADR 0035).

intake and scheduling run as `python -m services.<name>` on the suite's NATS and PostgreSQL and export their spans
with OTLP/HTTP to a real receiver in the test. A project registered at intake is one trace: intake's HTTP server
span -> intake's append span -> scheduling's projection batch and scheduling's reaction to the event (parent span
ids checked edge by edge). Then each service's `/metrics` is scraped and its JSON log lines read.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.devstack.children import Child, stop_processes, wait_ready
from shared.devstack.embedded import free_port
from shared.metrics import metric_names
from shared.settings import Settings
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.platform import project_body, wait_until
from tests.shared.test_process_roles import ROOT, demo_tokens, service_env

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP's SpanKind numbers


@contextmanager
def service_process(module: str, env: dict[str, str], name: str) -> Iterator[Child]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="tiaodu-otel-")) / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=env | {"SERVICE_PORT": str(port), "REPLICA_ID": name},
            stdout=out, stderr=out,
        )  # fmt: skip
        child = Child(name, proc, f"http://127.0.0.1:{port}", log)
        try:
            wait_ready(child)
            yield child
        finally:
            stop_processes([proc])


def one(spans: list[ReceivedSpan], what: str, **match: object) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, f"{what}: {len(found)} spans match {match}: {found}"
    return found[0]


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of a Prometheus exposition by sample name (a counter's `_total`, a histogram's `_count`...)."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_one_trace_across_two_service_processes_then_metrics_and_json_logs(settings: Settings) -> None:
    with OtlpReceiver() as receiver:
        # The standard variables only; a short batch delay so the test does not wait five seconds for each export.
        env = service_env(settings, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="100")
        tokens = await asyncio.to_thread(demo_tokens, env)
        hq = {"Authorization": f"Bearer {tokens['hq']}"}
        orgs = {"unit_id": next(iter(tokens["units"])), "sponsor_leader_id": next(iter(tokens["leaders"]))}  # type: ignore[call-overload]
        with (
            service_process("services.intake", env, "intake-1") as intake,
            service_process("services.scheduling", env, "scheduling-1") as scheduling,
        ):
            async with httpx.AsyncClient(headers=hq, timeout=10, trust_env=False) as client:

                async def signed_in() -> bool:
                    return (await client.get(f"{intake.url}/v1/organisations")).status_code == 200

                await wait_until(signed_in, 30, "intake to project the demo credentials")
                r = await client.post(f"{intake.url}/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024})
                assert r.status_code == 201, r.text
                before = r.json()["seq"]

                async def scheduling_reached() -> bool:  # so that the project's event starts a batch of its own
                    status = (await client.get(f"{scheduling.url}/projection/scheduling")).json()
                    return max(status["checkpoints"].values()) >= before

                await wait_until(scheduling_reached, 30, "scheduling's projection to reach the programme")
                r = await client.post(f"{intake.url}/v1/projects", json=project_body(name="追踪项目", **orgs))
                assert r.status_code == 201, r.text
                project_id = r.json()["id"]

                def edges() -> tuple[ReceivedSpan, ...]:
                    spans = receiver.snapshot()
                    server = one(spans, "intake's server span", service="intake", name="POST /v1/projects")
                    assert server.kind == SERVER
                    mine = [s for s in spans if s.trace_id == server.trace_id]
                    append = one(mine, "intake's append span", name="append ProjectRegistered")
                    assert (append.service, append.kind, append.parent_span_id) == ("intake", PRODUCER, server.span_id)
                    project = one(
                        mine, "scheduling's projection span", name="project scheduling", parent_span_id=append.span_id
                    )
                    assert (project.service, project.kind, project.parent_span_id) == (
                        "scheduling", CONSUMER, append.span_id,
                    )  # fmt: skip
                    assert append.span_id in project.links
                    react = one(mine, "scheduling's reaction span", name="react light_reevaluation ProjectRegistered")
                    assert (react.service, react.kind, react.parent_span_id) == ("scheduling", CONSUMER, append.span_id)
                    # The intake projection applying the same event is in the trace too (a child of the append). Its
                    # span arrives when its batch commits, after up to a linger: waited for like the others.
                    own = one(mine, "intake's projection span", name="project intake", parent_span_id=append.span_id)
                    assert own.service == "intake"
                    return server, append, project, react

                async def traced() -> bool:
                    try:
                        edges()
                    except AssertionError:
                        return False
                    return True

                try:
                    await wait_until(traced, 90, "the request's trace to reach both projections and the reaction")
                except AssertionError:
                    edges()  # says which edge is missing
                    raise

                # Metrics: each family the services export, with values that follow from what just happened.
                r = await client.get(f"{scheduling.url}/projection/scheduling")
                partitions = len(r.json()["checkpoints"])
                intake_metrics = (await client.get(f"{intake.url}/metrics")).text
                found = samples(intake_metrics)
                commands = {
                    s[0]["operation"]: s[1] for s in found["tiaodu_command_duration_seconds_count"]
                    if s[0]["service"] == "intake"
                }  # fmt: skip
                assert commands["POST /v1/projects"] == 1 and commands["POST /v1/programmes"] == 1, commands
                assert f"/v1/projects/{project_id}" not in intake_metrics  # routes, never raw paths
                held = [s for s in found["tiaodu_lease_held"] if s[0]["group"] == "proj"]
                assert sorted(int(s[0]["partition"]) for s in held) == list(range(partitions))  # the one replica
                assert {s[0]["replica"] for s in held} == {"intake-1"}
                pending = [s for s in found["tiaodu_consumer_pending_events"] if s[0]["group"] == "proj"]
                assert len(pending) == partitions and all(v >= 0 for _, v in pending)
                lag = [s for s in found["tiaodu_consumer_lag_seconds"] if s[0]["group"] == "proj"]
                assert len(lag) == partitions and all(0 <= v < 3600 for _, v in lag)
                assert all(v == 0 for labels, v in found["tiaodu_parked_events"]), found["tiaodu_parked_events"]
                batches = {s[0]["group"]: s[1] for s in found["tiaodu_consumer_batches_total"]}
                assert batches["proj"] >= 1
                sched = samples((await client.get(f"{scheduling.url}/metrics")).text)
                handled = {
                    (s[0]["reaction"], s[0]["outcome"]): s[1] for s in sched["tiaodu_reaction_events_total"]
                }  # fmt: skip
                assert handled[("light_reevaluation", "handled")] >= 1, handled
                # Not in the OpenAPI document, so the gateway (which routes by it) never serves it publicly.
                paths = (await client.get(f"{intake.url}/openapi.json")).json()["paths"]
                assert "/metrics" not in paths and "/v1/projects" in paths
                # Every family named by shared.metrics is declared (counters with no child yet show HELP and TYPE).
                declared = {f.name for f in text_string_to_metric_families(intake_metrics)}
                for name in metric_names():
                    base = name.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum")
                    assert base.removesuffix("_count") in declared, name

            # JSON logs: one object a line with the service and replica, from the first line on.
            for child, service in ((intake, "intake"), (scheduling, "scheduling")):
                lines = [json.loads(line) for line in child.log.read_text().splitlines() if line.strip()]
                assert lines, child.log
                for doc in lines:
                    assert {"time", "level", "service", "replica", "message"} <= doc.keys(), doc
                    assert (doc["service"], doc["replica"]) == (service, child.name)
