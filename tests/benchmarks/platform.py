"""The platform under measurement: intake as real processes (a projection `worker` beside `api` processes when the
service has the roles, else one process doing all) and the gateway in front of it, on the bench's servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.devstack.children import parse_tokens, stop_processes
from shared.devstack.embedded import free_port
from tests.benchmarks.processes import ROOT, Service, clean_env, peak_rss_mb, start_service
from tests.benchmarks.servers import BenchServers
from tests.platform import project_body


def roles_supported() -> bool:
    """Whether this checkout's services read TIAODU_ROLE (the API and the projection in separate processes)."""
    sources = [*(ROOT / "shared").glob("*.py"), *(ROOT / "services" / "intake").glob("*.py")]
    return any("TIAODU_ROLE" in path.read_text(encoding="utf-8") for path in sources)


@dataclass
class Platform:
    servers: BenchServers
    logs: Path
    api_workers: int
    worker_processes: int
    services: dict[str, Service] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    retired: list[Service] = field(default_factory=list)  # stopped incarnations, for their peak RSS
    tokens: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # project id -> version, kept by the load rounds
    split: bool = field(default_factory=roles_supported)

    @property
    def intake_processes(self) -> dict[str, Any]:
        if not self.split:
            return {"roles": False, "all": 1, "note": "TIAODU_ROLE not in this checkout: one process does all"}
        extra = {"env": extra_intake_env()} if extra_intake_env() else {}
        return {"roles": True, "worker": self.worker_processes, "api": 1, "api_workers": self.api_workers, **extra}

    @property
    def api_url(self) -> str:
        return self.services["intake-api" if self.split else "intake"].url

    @property
    def gateway_url(self) -> str:
        return self.services["gateway"].url

    def intake_env(self, role: str, workers: int, replica: str | None) -> dict[str, str]:
        """`replica` None: each API process names itself (service-host-pid), as uvicorn's workers share one env."""
        env = self.servers.service_env("intake") | ({"REPLICA_ID": replica} if replica else {}) | extra_intake_env()
        return env | ({"TIAODU_ROLE": role, "TIAODU_WORKERS": str(workers)} if self.split else {})

    def start_intake(self) -> None:
        """The worker(s) first: an API process answers reads from the checkpoints they write."""
        if not self.split:
            self._start("intake", self.intake_env("all", 1, "intake-1"))
            return
        for i in range(self.worker_processes):
            name = "intake-worker" if self.worker_processes == 1 else f"intake-worker{i + 1}"
            self._start(name, self.intake_env("worker", 1, f"intake-w{i + 1}"))
        self._start("intake-api", self.intake_env("api", self.api_workers, None))

    def _start(self, name: str, env: dict[str, str], module: str = "services.intake") -> None:
        # A restarted process takes its old port: the gateway's route to the API stays valid.
        port = self.ports.get(name) or free_port()
        self.services[name] = start_service(name, module, env, self.logs, port=port)
        self.ports[name] = port

    def start_gateway(self) -> None:
        self._start("gateway", {"TIAODU_GATEWAY_ROUTES": self.api_url}, "services.gateway")

    def start_notification(self) -> None:
        """The notification service as one process (API, projection, routing and delivery reactions, senders) with
        its own NATS user: not under HTTP load, so no split."""
        env = self.servers.service_env("notification") | {"REPLICA_ID": "notification-1"}
        self._start("notification", env, "services.notification")

    def stop(self, name: str) -> None:
        """One service stopped (its peak RSS kept for the results)."""
        service = self.services.pop(name)
        service.stop()
        self.retired.append(service)

    def stop_intake(self) -> None:
        for name in [n for n in self.services if n.startswith("intake")]:
            service = self.services.pop(name)
            service.stop()
            self.retired.append(service)

    def stop_all(self) -> None:
        """Every process stopped, even when reading one of them fails (no service outlives the bench)."""
        failures: list[BaseException] = []
        for service in list(self.services.values()):
            try:
                service.stop()
            except Exception as exc:
                failures.append(exc)
                stop_processes([service.child.proc])
            self.retired.append(service)
        self.services.clear()
        if failures:
            raise failures[0]

    def peak_rss_mb(self) -> dict[str, float]:
        peaks: dict[str, float] = {}
        for service in [*self.retired, *self.services.values()]:
            for name, mb in service.record_peaks().items():
                peaks[name] = round(max(peaks.get(name, 0.0), mb), 1)
        return peaks

    def bootstrap_demo(self) -> None:
        """The demo organisations and their tokens (intake's operator command, as `make run` does it)."""
        env = clean_env(**self.servers.service_env("intake"))
        done = subprocess.run([sys.executable, "-m", "services.intake.cli", "bootstrap-demo"], env=env, cwd=ROOT,
                              capture_output=True, check=True)  # fmt: skip
        self.tokens = parse_tokens(done.stdout.decode())

    @property
    def unit_token(self) -> str:
        return str(next(iter(self.tokens["units"].values())))

    async def register_projects(self, count: int) -> int:
        """A programme and `count` projects of one unit through the API; returns the last sequence written."""
        unit = next(iter(self.tokens["units"]))
        leader = next(iter(self.tokens["leaders"]))
        headers = {"Authorization": f"Bearer {self.tokens['hq']}"}
        async with httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=60) as client:
            await token_known(client, "/v1/programmes")
            r = await client.post("/v1/programmes", json={"id": "prog", "name": "压测计划", "year": 2024})
            assert r.status_code == 201, r.text
            r = await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"], "wait_ms": 20000})
            assert r.status_code == 200, r.text
            seq = 0
            for i in range(count):
                body = project_body(name=f"压测项目{i}", unit_id=unit, sponsor_leader_id=leader)
                r = await client.post("/v1/projects", json=body)
                assert r.status_code == 201, r.text
                self.versions[r.json()["id"]] = r.json()["version"]
                seq = max(seq, r.json()["seq"])
        return seq

    async def caught_up(self, seq: int, timeout: float) -> float:
        """Wait until intake's projection has reached `seq` (a read with min_seq answers); returns the seconds."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        headers = {"Authorization": f"Bearer {self.tokens['hq']}"}
        async with httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30) as client:
            while True:
                r = await client.get("/v1/programmes/prog", params={"min_seq": seq, "wait_ms": 2000})
                if r.status_code == 200:
                    return loop.time() - t0
                if r.status_code != 504 or loop.time() - t0 > timeout:
                    raise RuntimeError(f"intake did not reach seq {seq} in {timeout:.0f}s: {r.status_code} {r.text}")


async def token_known(client: httpx.AsyncClient, path: str, timeout: float = 60) -> None:
    """Until a fresh service's projection has folded the credentials bootstrapped before it started: a service whose
    projection lags past its wait answers the token with 503 meanwhile (shared.web.authenticate), and a checkout
    from before that answered 401."""
    deadline = time.monotonic() + timeout
    while (r := await client.get(path)).status_code in (401, 503):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} still answers {r.status_code} after {timeout:.0f}s: {r.text}")
        await asyncio.sleep(0.1)


def extra_intake_env() -> dict[str, str]:
    """BENCH_INTAKE_ENV="TIAODU_X=1,TIAODU_Y=2": settings for every intake process, to compare variants of a knob
    in one sitting (the bench otherwise runs the services with their defaults)."""
    pairs = [item.partition("=") for item in os.environ.get("BENCH_INTAKE_ENV", "").split(",") if item.strip()]
    return {name.strip(): value.strip() for name, _, value in pairs}


def own_rss_mb() -> float:
    return round(peak_rss_mb(os.getpid()) or 0.0, 1)
