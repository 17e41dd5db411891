"""Three local nats-server processes forming one JetStream cluster (routes on free loopback ports), with the
platform's generated users (shared/devstack/nats_config.py), for the cluster fault test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS

from shared.catalogue.ownership import SERVICES
from shared.devstack.embedded import Server, free_port, nats_binary, wait_for_port
from shared.devstack.files import write_private
from shared.devstack.nats_config import ADMIN, render_accounts
from shared.runtime import connect_nats
from shared.settings import Settings

CLUSTER = "tiaodu"


@dataclass
class Node:
    name: str
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def kill(self) -> None:
        """SIGKILL: no lame-duck mode, no flush; the store is left as a crash leaves it."""
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.server.proc.poll() is None


@dataclass
class Cluster:
    nodes: list[Node]
    passwords: dict[str, str]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def node(self, name: str) -> Node:
        (found,) = [n for n in self.nodes if n.name == name]
        return found

    async def connect(self, user: str, *, first: int = 0) -> NATS:
        """A client the way a service connects (shared.runtime.connect_nats), with every server in NATS_URL,
        comma-separated as docker-compose.yml gives them, `first` named first."""
        order = self.urls[first:] + self.urls[:first]
        password = self.passwords[user]
        url = ",".join(order)
        settings = Settings(nats_url=url, database_url="postgresql://unused", nats_user=user, nats_password=password)
        return await connect_nats(settings, f"cluster-test-{user}")


def node_config(name: str, port: int, cluster_port: int, route_ports: list[int], store: Path, accounts: str) -> str:
    routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in route_ports)
    return "\n".join(
        [
            f"server_name: {name}",
            f'listen: "127.0.0.1:{port}"',
            f"jetstream {{ store_dir: {json.dumps(str(store))} }}",
            f'cluster {{ name: {CLUSTER}, listen: "127.0.0.1:{cluster_port}", routes: [{routes}] }}',
            accounts,
        ]
    )


@contextmanager
def nats_cluster(root: Path, *, stream: str, prefix: str, partitions: int) -> Iterator[Cluster]:
    passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in [*SERVICES, ADMIN]}
    accounts = render_accounts(passwords, stream=stream, prefix=prefix, partitions=partitions)
    ports = [free_port() for _ in range(3)]
    cluster_ports = [free_port() for _ in range(3)]
    nodes: list[Node] = []
    try:
        for i in range(3):
            name = f"n{i + 1}"
            folder = root / name
            folder.mkdir(parents=True)
            conf, log = folder / "nats.conf", folder / "nats.log"
            text = node_config(name, ports[i], cluster_ports[i], cluster_ports, folder / "jetstream", accounts)
            write_private(conf, text)
            proc = subprocess.Popen(
                [nats_binary(), "-c", str(conf), "-l", str(log)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            nodes.append(Node(name, Server("nats", f"nats://127.0.0.1:{ports[i]}", proc, ports[i])))
            wait_for_port(ports[i], timeout=15, proc=proc, name=f"nats-server {name}", log=log)
        yield Cluster(nodes, passwords)
    finally:
        for node in nodes:
            node.server.stop()


async def wait_for_jetstream(cluster: Cluster, *, timeout: float = 30.0) -> None:
    """Until the cluster has elected its JetStream meta leader (account info answers)."""
    nc = await cluster.connect(ADMIN)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await nc.jetstream().account_info()
                return
            except (nats.errors.Error, nats.js.errors.Error):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.close()
