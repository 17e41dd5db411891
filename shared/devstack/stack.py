"""The whole platform on this machine, in one data folder: NATS, PostgreSQL, every service, then the gateway.

NATS_URL and DATABASE_URL point at existing servers; without them embedded ones start under `.run/`.
`make run` (shared/devstack/__main__.py) and the end-to-end tests start the platform through the same `Stack`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from shared.catalogue.ownership import SERVICES as GRANTS
from shared.devstack.audit_key import signing_key_env
from shared.devstack.children import (
    LOG_TAIL_LINES,
    Child,
    StackError,
    ensure_database,
    parse_tokens,
    run_sync,
    stop_processes,
    wait_ready,
)
from shared.devstack.demo_clock import DEMO_CLOCK_START, start_demo_clock
from shared.devstack.demo_receiver_process import DemoReceiver, start_demo_receiver
from shared.devstack.embedded import Server, free_port, start_nats, start_postgres, tail
from shared.devstack.files import write_private
from shared.devstack.nats_config import ADMIN, local_passwords, render_server_config
from shared.devstack.seeds import SeedOrderError, seed_order
from shared.provision import StreamLayout, provision_at

# A tool's run: the scheduling seed lives the demo's nine months on the demo clock, day by day (docs/adr/0017).
TOOL_TIMEOUT_S = 900

DATABASE = "tiaodu"
# The layout of the data folder; a folder of another layout is set aside (see Stack._set_aside_older_layout).
RUN_LAYOUT = "2"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


# The gateway is a process like the services but holds no state and connects to no server: it starts last,
# with the services' URLs as its routes, and is not seeded.
GATEWAY = "gateway"
MAX_REPLICAS = 9


def discover_services(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "services").glob("*/__main__.py") if p.parent.name != GATEWAY)


def parse_replicas(spec: str, services: list[str]) -> dict[str, int]:
    """`scheduling=3,intake=2` (make run REPLICAS=...) → how many processes each service runs; one by default."""
    counts = dict.fromkeys(services, 1)
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or name not in counts or not count.strip().isdigit() or not 1 <= int(count) <= MAX_REPLICAS:
            raise StackError(
                f"REPLICAS={spec!r}: {item!r} must be <service>=<1..{MAX_REPLICAS}>, the service one of {services}"
            )
        counts[name] = int(count)
    return counts


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    write_private(path, json.dumps(data, ensure_ascii=False, indent=2))


class Stack:
    def __init__(
        self,
        root: Path | None = None,
        run_dir: Path | None = None,
        *,
        port: int | None = None,
        demo: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.root = root or repo_root()
        self.run_dir = (run_dir or Path(self.env.get("TIAODU_RUN_DIR") or self.root / ".run")).resolve()
        port_env = self.env.get("TIAODU_PORT")
        self.port = port or (int(port_env) if port_env else None)
        self.demo = demo
        self.servers: list[Server] = []
        self.services: list[Child] = []
        self.replicas: dict[str, int] = {}  # service → how many processes run it
        self.gateway: Child | None = None
        self.gateway_metrics_url = ""  # HAProxy's Prometheus exporter (TIAODU_GATEWAY_METRICS_PORT)
        self.receiver: DemoReceiver | None = None  # make run's demo receiver (webhooks and e-mail), demo only
        self.nats_url = ""
        self.nats_passwords: dict[str, str] = {}
        self.database_url = ""
        self.clock: dict[str, Any] = {}  # the demo clock, as demo.json names it
        self.base_url = ""
        self.tokens: dict[str, Any] = {}
        self._logs: list[IO[bytes]] = []

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    def _set_aside_older_layout(self) -> None:
        """A data folder written by an older layout (its NATS had no accounts, its read models no consumer groups)
        cannot be carried on: its read models would not match the log. It is moved aside, never deleted."""
        marker = self.run_dir / "LAYOUT"
        if not self.run_dir.exists() or not any(self.run_dir.iterdir()):
            return
        if marker.exists() and marker.read_text(encoding="utf-8").strip() == RUN_LAYOUT:
            return
        aside = self.run_dir.with_name(f"{self.run_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        self.run_dir.rename(aside)
        print(f"tiaodu: {self.run_dir} was written by an older version; moved to {aside} (make clean removes it)",
              file=sys.stderr)  # fmt: skip

    @property
    def demo_file(self) -> Path:
        return self.run_dir / "demo.json"

    def start(self) -> Stack:
        self._set_aside_older_layout()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "LAYOUT").write_text(f"{RUN_LAYOUT}\n", encoding="utf-8")
        try:
            self._start_infrastructure()
            if self.demo:
                self.receiver = start_demo_receiver(self.run_dir / "receiver", self._spawn, self.child_env())
            self._start_services()
            self._start_gateway()
            if self.demo:
                self._prepare_demo()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_infrastructure(self) -> None:
        """NATS (with a user per service) and PostgreSQL: existing servers when their URL is set, else embedded."""
        layout = StreamLayout.from_env_of(self.env)
        if self.env.get("NATS_URL"):
            self.nats_url = self.env["NATS_URL"]
            # An existing server: its users are the operator's; NATS_USER/NATS_PASSWORD are its administrator,
            # NATS_<SERVICE>_PASSWORD a service's own user when given.
            self.nats_passwords = {
                user: self.env[f"NATS_{user.upper()}_PASSWORD"]
                for user in GRANTS
                if self.env.get(f"NATS_{user.upper()}_PASSWORD")
            }
            admin = (self.env.get("NATS_USER") or None, self.env.get("NATS_PASSWORD") or None)
        else:
            self.nats_passwords = local_passwords(self.run_dir / "nats" / "users.json")

            def config(port: int, store_dir: str) -> str:
                return render_server_config(
                    self.nats_passwords,
                    port=port,
                    store_dir=store_dir,
                    stream=layout.stream,
                    prefix=layout.prefix,
                    partitions=layout.partitions,
                )

            nats = start_nats(self.run_dir / "nats", config=config)
            self.servers.append(nats)
            self.nats_url = nats.url
            admin = (ADMIN, self.nats_passwords[ADMIN])
        # Creating the stream and the lease bucket is the administrator's act; the services only verify them.
        run_sync(provision_at(self.nats_url, layout, user=admin[0], password=admin[1]))
        if self.demo:
            # The demo's clock is one record every service follows, not a start time each process counts from.
            start = datetime.fromisoformat(self.env.get("TIAODU_CLOCK_START") or DEMO_CLOCK_START)
            self.clock = run_sync(
                start_demo_clock(self.nats_url, layout.stream, start, user=admin[0], password=admin[1])
            )
        if self.env.get("DATABASE_URL"):
            self.database_url = self.env["DATABASE_URL"]
        else:
            pg = start_postgres(self.run_dir / "pg")
            self.servers.append(pg)
            run_sync(ensure_database(pg.url, DATABASE))
            self.database_url = f"postgresql://postgres@127.0.0.1:{pg.port}/{DATABASE}"

    def child_env(self, nats_user: str | None = None, **extra: str) -> dict[str, str]:
        """A child's environment; a process that talks to NATS gets its service's own user, never the admin."""
        env = self.env | {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "PYTHONPATH": str(self.root),
            "TIAODU_ENV": "development",
            **extra,
        }
        if self.demo:
            env.pop("TIAODU_CLOCK_START", None)  # the demo clock's record in the bucket holds it (start_demo_clock)
        for key in ("NATS_USER", "NATS_PASSWORD", *(f"NATS_{u.upper()}_PASSWORD" for u in [*GRANTS, ADMIN])):
            env.pop(key, None)
        if nats_user is not None and nats_user in self.nats_passwords:
            env |= {"NATS_USER": nats_user, "NATS_PASSWORD": self.nats_passwords[nats_user]}
        return env

    def _spawn(self, name: str, module: str, port: int, env: dict[str, str]) -> Child:
        log = self.logs_dir / f"{name}.log"
        log_fh = log.open("wb")
        self._logs.append(log_fh)
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=self.root,
            env=env,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )
        return Child(name, proc, f"http://127.0.0.1:{port}", log)

    def _start_services(self) -> None:
        names = discover_services(self.root)
        if not names:
            raise StackError(f"no service found: expected {self.root}/services/<name>/__main__.py")
        ungranted = sorted(set(names) - set(GRANTS))
        if ungranted:
            raise StackError(f"no NATS grant for {ungranted}: add them to shared/catalogue/ownership.py")
        # Replicas (docs/adr/0034): each its own process, port and REPLICA_ID; they share the service's projection
        # partitions, reactions and timers through the leases (0002, 0008), and the gateway balances across them.
        self.replicas = parse_replicas(self.env.get("TIAODU_REPLICAS", ""), names)
        for name in names:
            for index in range(1, self.replicas[name] + 1):
                port = free_port()
                replica = f"{name}-{index}"
                env = self.child_env(name, SERVICE_PORT=str(port), REPLICA_ID=replica)
                if self.receiver is not None:
                    env |= self.receiver.service_env(name)
                if name == "audit":  # only audit holds the private key seals are signed with
                    env |= signing_key_env(self.run_dir)
                log_name = name if index == 1 else replica  # one replica: the log keeps its old name
                self.services.append(self._spawn(log_name, f"services.{name}", port, env))
        for child in self.services:
            wait_ready(child)

    def replicas_of(self, service: str) -> list[Child]:
        names = {service, *(f"{service}-{i}" for i in range(2, self.replicas.get(service, 1) + 1))}
        return [c for c in self.services if c.name in names]

    def _start_gateway(self) -> None:
        port = self.port or free_port()
        # One entry per service, its replicas joined by `|` (services/gateway/bootstrap.py).
        routes = ",".join("|".join(c.url for c in self.replicas_of(name)) for name in self.replicas)
        metrics_port = free_port()
        env = self.child_env(
            TIAODU_GATEWAY_ROUTES=routes, SERVICE_PORT=str(port), TIAODU_GATEWAY_METRICS_PORT=str(metrics_port)
        )
        self.gateway = self._spawn(GATEWAY, f"services.{GATEWAY}", port, env)
        self.gateway_metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_ready(self.gateway)
        self.base_url = self.gateway.url

    def _prepare_demo(self) -> None:
        previous = json.loads(self.demo_file.read_text(encoding="utf-8")) if self.demo_file.exists() else {}
        # A demo.json without "nats" was written before NATS had users: its log lives in another NATS account.
        if "nats" in previous:
            self.tokens = previous["tokens"]
        else:
            self.tokens = self._bootstrap_demo()
            try:
                order = seed_order(self.root)
            except SeedOrderError as exc:
                raise StackError(str(exc)) from exc
            for service in order:
                self._run_tool(
                    f"seed-{service}",
                    f"services.{service}.seed",
                    "--base-url",
                    self.base_url,
                    "--token",
                    self.tokens["hq"],
                    # seeds acting as units or leaders; the notification seed points contact points at the receiver
                    extra_env={
                        "TIAODU_DEMO_TOKENS": json.dumps(self.tokens),
                        **(self.receiver.seed_env() if self.receiver else {}),
                    },
                )
            if self.clock:  # the seeds lived the demo's history on its clock: say where it stands now
                self.clock["now_at_start"] = self._demo_time()
        users = {user: {"user": user, "password": pw} for user, pw in self.nats_passwords.items()}
        nats = {"url": self.nats_url, "users": users}
        demo = {"base_url": self.base_url, "tokens": self.tokens, "nats": nats, "clock": self.clock}
        # Each service's Prometheus endpoint, on its own port (not behind the public base URL; docs/adr/0035).
        metrics = {child.name: f"{child.url}/metrics" for child in self.services}
        if self.gateway_metrics_url:  # the gateway's HAProxy, on a port of its own (docs/adr/0038)
            metrics[GATEWAY] = self.gateway_metrics_url
        demo["metrics"] = metrics
        if self.receiver is not None:
            demo["receiver"] = {"url": self.receiver.child.url, "smtp_url": self.receiver.smtp_url}
        write_private_json(self.demo_file, demo)

    def _demo_time(self) -> str:
        """The platform's China time, as hq reads it through the base URL."""
        headers = {"Authorization": f"Bearer {self.tokens['hq']}"}
        r = httpx.get(f"{self.base_url}/v1/clock", headers=headers, timeout=10)
        r.raise_for_status()
        return str(r.json()["china_time"])

    def _bootstrap_demo(self) -> dict[str, Any]:
        stdout = self._run_tool("bootstrap", "services.intake.cli", "bootstrap-demo", capture=True, nats_user="intake")
        return parse_tokens(stdout)

    def _run_tool(
        self, name: str, module: str, *args: str, capture: bool = False, nats_user: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> str:  # fmt: skip
        log = self.logs_dir / f"{name}.log"
        with log.open("wb") as log_fh:
            result = subprocess.run(
                [sys.executable, "-m", module, *args],
                cwd=self.root,
                env=self.child_env(nats_user, **(extra_env or {})),
                stdout=subprocess.PIPE if capture else log_fh,
                stderr=log_fh,
                stdin=subprocess.DEVNULL,
                timeout=TOOL_TIMEOUT_S,
            )
        if result.returncode != 0:
            raise StackError(
                f"{module} exited with {result.returncode}; last lines of {log}:\n{tail(log, LOG_TAIL_LINES)}"
            )
        return result.stdout.decode("utf-8") if capture else ""

    def children(self) -> list[Child]:
        receiver = [self.receiver.child] if self.receiver else []
        return [*receiver, *self.services, *([self.gateway] if self.gateway else [])]

    def check(self) -> None:
        """Raise StackError if any process the stack started has died."""
        for child in self.children():
            if child.proc.poll() is not None:
                raise child.failure(f"exited unexpectedly with {child.proc.returncode}")
        for server in self.servers:
            if server.proc.poll() is not None:
                raise StackError(f"{server.name} exited unexpectedly with {server.proc.returncode}")

    def stop(self) -> None:
        if self.gateway:
            stop_processes([self.gateway.proc])
        stop_processes([child.proc for child in self.services])
        if self.receiver:
            stop_processes([self.receiver.child.proc])
        for server in reversed(self.servers):  # PostgreSQL, then NATS
            server.stop()
        for fh in self._logs:
            fh.close()
        self.gateway, self.receiver, self.services, self.servers, self._logs = None, None, [], [], []
