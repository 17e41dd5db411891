"""`make run` starts its demo receiver (shared/devstack/demo_receiver.py) as one more child, before the services: the
notification service sends its e-mail to the receiver's SMTP sink, and the notification seed points the demo's
webhook contact points at it and writes the secrets it set where the receiver reads them."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.children import Child, wait_ready
from shared.devstack.embedded import free_port

MODULE = "shared.devstack.demo_receiver"
NAME = "demo_receiver"
# What the notification seed reads (services/notification/seed.py): where the receiver is, where its secrets go.
RECEIVER_URL_ENV = "TIAODU_DEMO_RECEIVER_URL"
RECEIVER_SECRETS_ENV = "TIAODU_DEMO_RECEIVER_SECRETS"

Spawn = Callable[[str, str, int, dict[str, str]], Child]


@dataclass(frozen=True)
class DemoReceiver:
    child: Child
    smtp_port: int
    secrets_file: Path

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp_port}?starttls=off"

    def service_env(self, service: str) -> dict[str, str]:
        """The notification service's mail goes to the sink (in `make run` only)."""
        return {"TIAODU_SMTP_URL": self.smtp_url} if service == "notification" else {}

    def seed_env(self) -> dict[str, str]:
        return {RECEIVER_URL_ENV: self.child.url, RECEIVER_SECRETS_ENV: str(self.secrets_file)}


def _bindable(port: int) -> bool:
    """Whether the receiver can listen there: as uvicorn and asyncio bind (SO_REUSEADDR), so that the connections the
    last run left in TIME_WAIT do not count as taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def receiver_ports(folder: Path) -> tuple[int, int]:
    """The ports of the first run again: the webhook contact points in the log name the receiver's URL. Fresh ones
    (and a warning) when another program holds them."""
    saved = folder / "ports.json"
    if saved.exists():
        ports = json.loads(saved.read_text(encoding="utf-8"))
        http_port, smtp_port = int(ports["http"]), int(ports["smtp"])
        if _bindable(http_port) and _bindable(smtp_port):
            return http_port, smtp_port
        print(f"tiaodu: the demo receiver's ports {http_port}/{smtp_port} are taken; the demo's webhooks will not"
              " reach it this time (make clean starts afresh)", file=sys.stderr)  # fmt: skip
        return free_port(), free_port()  # the saved ones stay: they are what the log's contact points name
    http_port, smtp_port = free_port(), free_port()
    saved.write_text(json.dumps({"http": http_port, "smtp": smtp_port}), encoding="utf-8")
    return http_port, smtp_port


def start_demo_receiver(folder: Path, spawn: Spawn, env: dict[str, str]) -> DemoReceiver:
    folder.mkdir(parents=True, exist_ok=True)
    http_port, smtp_port = receiver_ports(folder)
    secrets_file = folder / "webhook-secrets.json"  # written by the seed (mode 0600), kept across runs like the log
    env = env | {
        "DEMO_RECEIVER_PORT": str(http_port),
        "DEMO_SMTP_PORT": str(smtp_port),
        "DEMO_RECEIVER_SECRETS": str(secrets_file),
    }
    child = spawn(NAME, MODULE, http_port, env)
    wait_ready(child)
    return DemoReceiver(child, smtp_port, secrets_file)
