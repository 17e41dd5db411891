"""Benchmark the gateway (not part of the suite): `python -m tests.benchmarks.bench_gateway`.

intake and the gateway run as their own uvicorn processes, as `make run` starts them; the load comes from a third
process (tests/benchmarks/http_load.py: keep-alive, 32 concurrent clients, progress reports with If-Match). Rounds
alternate direct and through the gateway so both see the same machine load; the medians and their ratio are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from shared.devstack.children import Child, parse_tokens, stop_processes, wait_ready
from shared.devstack.embedded import free_port
from tests.benchmarks.servers import bench_settings
from tests.platform import project_body

ROOT = Path(__file__).resolve().parents[2]
# Another checkout's gateway (e.g. `git archive` of an older commit) to compare against in the same conditions.
GATEWAY_ROOT = Path(os.environ.get("BENCH_GATEWAY_ROOT", ROOT))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): unlike throughput, it hardly moves with the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _env(nats_url: str, database_url: str, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "TIAODU_", "DATABASE_"))}
    return keep | {"NATS_URL": nats_url, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def spawned(name: str, module: str, env: dict[str, str], logs: Path, root: Path = ROOT) -> Iterator[Child]:
    port = free_port()
    log = logs / f"{name}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=root,
            env=env | {"SERVICE_PORT": str(port), "PYTHONPATH": str(root)},
            stdout=fh,
            stderr=fh,
        )
        child = Child(name, proc, f"http://127.0.0.1:{port}", log)
        try:
            wait_ready(child)
            yield child
        finally:
            stop_processes([proc])


def load(base_url: str, token: str, projects: dict[str, int], concurrency: int, seconds: float) -> dict[str, Any]:
    job = {"base_url": base_url, "token": token, "projects": projects, "concurrency": concurrency, "seconds": seconds}
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.http_load"],
        input=json.dumps(job).encode(),
        capture_output=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    projects.update(result.pop("versions"))
    return result


def bootstrap_demo(env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "services.intake.cli", "bootstrap-demo"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, check=True)
    return parse_tokens(done.stdout.decode())


async def register_projects(base_url: str, hq: str, unit: str, leader: str, count: int) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {hq}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        r = await client.post("/v1/programmes", json={"id": "prog", "name": "压测计划", "year": 2024})
        assert r.status_code == 201, r.text
        await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]})
        projects = {}
        for i in range(count):
            body = project_body(name=f"压测项目{i}", unit_id=unit, sponsor_leader_id=leader)
            r = await client.post("/v1/projects", json=body)
            assert r.status_code == 201, r.text
            projects[r.json()["id"]] = r.json()["version"]
        return projects


async def main(projects: int = 100, concurrency: int = 32, seconds: float = 10.0, rounds: int = 3) -> None:
    async with bench_settings() as settings:
        env = _env(settings.nats_url, settings.database_url)
        logs = Path(tempfile.mkdtemp(prefix="tiaodu-bench-gateway-"))
        tokens = await asyncio.to_thread(bootstrap_demo, env)
        unit, unit_token = next(iter(tokens["units"].items()))
        leader = next(iter(tokens["leaders"]))
        with (
            spawned("intake", "services.intake", env, logs) as intake,
            spawned(
                "gateway", "services.gateway", env | {"TIAODU_GATEWAY_ROUTES": intake.url}, logs, GATEWAY_ROOT
            ) as gateway,
        ):
            versions = await register_projects(intake.url, tokens["hq"], unit, leader, projects)
            figures: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
            load(intake.url, unit_token, versions, concurrency, 2.0)  # warm up both processes
            load(gateway.url, unit_token, versions, concurrency, 2.0)
            for _ in range(rounds):
                for name, url in (("direct", intake.url), ("gateway", gateway.url)):
                    cpu_before = cpu_seconds(gateway.proc.pid), cpu_seconds(intake.proc.pid)
                    result = load(url, unit_token, versions, concurrency, seconds)
                    cpu_after = cpu_seconds(gateway.proc.pid), cpu_seconds(intake.proc.pid)
                    count = max(result["count"], 1)
                    result["gateway_cpu_ms"] = (cpu_after[0] - cpu_before[0]) * 1000 / count
                    result["intake_cpu_ms"] = (cpu_after[1] - cpu_before[1]) * 1000 / count
                    figures[name].append(result)
                    print(
                        f"{name:8} {result['per_s']:7.0f}/s  p50 {result['p50_ms']:6.1f} ms  "
                        f"p99 {result['p99_ms']:6.1f} ms  CPU per request: gateway {result['gateway_cpu_ms']:.2f} ms, "
                        f"intake {result['intake_cpu_ms']:.2f} ms  errors {result['errors']} {result['first_errors']}"
                    )
        summary = {
            name: {
                "per_s": statistics.median(r["per_s"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "gateway_cpu_ms": statistics.median(r["gateway_cpu_ms"] for r in runs),
                "intake_cpu_ms": statistics.median(r["intake_cpu_ms"] for r in runs),
            }
            for name, runs in figures.items()
        }
        ratio = summary["gateway"]["per_s"] / summary["direct"]["per_s"]
        print(
            f"progress reports, {concurrency} keep-alive clients, {projects} projects, If-Match, median of {rounds}: "
            f"direct {summary['direct']['per_s']:.0f}/s (p99 {summary['direct']['p99_ms']:.0f} ms), "
            f"gateway {summary['gateway']['per_s']:.0f}/s (p99 {summary['gateway']['p99_ms']:.0f} ms), "
            f"ratio {ratio:.2f}; CPU per forwarded request: gateway {summary['gateway']['gateway_cpu_ms']:.2f} ms "
            f"beside intake's {summary['gateway']['intake_cpu_ms']:.2f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
