"""The compose NATS configuration's route authorization, enforced by real servers: deploy/nats/nats.conf run by
three local nats-server processes (its addresses moved to free loopback ports and its store to a temporary folder,
nothing else changed). Two with the cluster's route password form the cluster; a third with another password is
refused by both and stays alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.embedded import free_port, nats_binary, wait_for_port
from tests.deploy.test_deploy_files import NATS_CONF

NODES = ("nats1", "nats2", "nats3")
DEADLINE_S = 30.0


@dataclass
class Node:
    name: str
    monitor_port: int
    log: Path

    def routes(self) -> set[str]:
        """The names of the servers this one has a route with (its /routez)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/routez", timeout=2) as answer:
            return {r.get("remote_name", "") for r in json.load(answer).get("routes") or []}


def local_config(tmp: Path, name: str, port: int, monitor: int, cluster: int) -> Path:
    text = NATS_CONF.read_text(encoding="utf-8")
    moves = {
        'listen: "0.0.0.0:4222"': f'listen: "127.0.0.1:{port}"',
        'http: "0.0.0.0:8222"': f'http: "127.0.0.1:{monitor}"',
        'listen: "0.0.0.0:6222"': f'listen: "127.0.0.1:{cluster}"',
        'store_dir: "/data"': f'store_dir: "{tmp / name}"',
    }
    for old, new in moves.items():
        assert text.count(old) == 1, f"{NATS_CONF.name} no longer has {old!r}"
        text = text.replace(old, new)
    conf = tmp / f"{name}.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


@contextmanager
def node(tmp: Path, name: str, env: dict[str, str], ports: tuple[int, int, int]) -> Iterator[Node]:
    port, monitor, _ = ports
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([nats_binary(), "-c", str(local_config(tmp, name, *ports))], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for_port(port, timeout=DEADLINE_S, proc=proc, name=name, log=log)
        yield Node(name, monitor, log)
    finally:
        proc.terminate()
        proc.wait(15)


def wait_for(fact: str, check: object) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {DEADLINE_S}s: {fact}"
        time.sleep(0.1)


def test_only_servers_with_the_route_password_join_the_cluster(tmp_path: Path) -> None:
    ports = {name: (free_port(), free_port(), free_port()) for name in NODES}
    # Every user's password, as compose gives each server (any value does for this test).
    users = {v: "pw" for v in re.findall(r"\$(NATS_[A-Z_]+_PASSWORD)\b", NATS_CONF.read_text(encoding="utf-8"))}

    def env_of(route_password: str) -> dict[str, str]:
        routes = {f"NATS_ROUTE_{i}": f"nats-route://route:{route_password}@127.0.0.1:{ports[n][2]}"
                  for i, n in enumerate(NODES, start=1)}  # fmt: skip
        return {"PATH": os.environ.get("PATH", ""), **users, **routes, "NATS_CLUSTER_ROUTE_PASSWORD": route_password}

    with ExitStack() as stack:
        started = {
            name: stack.enter_context(node(tmp_path, name, env_of(password) | {"SERVER_NAME": name}, ports[name]))
            for name, password in [("nats1", "s3cret-route"), ("nats2", "s3cret-route"), ("nats3", "guessed")]
        }
        one, two, three = (started[n] for n in NODES)
        wait_for("nats1 and nats2 routed to each other", lambda: "nats2" in one.routes() and "nats1" in two.routes())

        def refused() -> bool:  # nats3 has tried both and been turned away (its attempts and theirs)
            refusals = [
                n.log.read_text(errors="replace").lower().count("authorization violation") for n in started.values()
            ]
            return refusals[0] > 0 and refusals[1] > 0

        wait_for("nats1 and nats2 refusing nats3's routes", refused)
        assert three.routes() == set(), "a server without the route password must not join"
        assert "nats3" not in one.routes() | two.routes()
