"""The demo seeds' HTTP client against a real socket server that drops the first connection of every request
without answering (what a keep-alive connection closed by the peer just as it is reused looks like): reads and
writes carrying an Idempotency-Key are sent again, other writes fail at once (they might have been applied)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from shared.devstack.seed_client import seed_http_client

ANSWER = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{"ok":true}'
)


class DroppingServer:
    """Drops every odd connection after reading the request, answers every even one."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = conn.recv(65536)
                self.requests.append(head.split(b"\r\n", 1)[0])
                if len(self.requests) % 2 == 0:
                    conn.sendall(ANSWER)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[DroppingServer]:
    s = DroppingServer()
    yield s
    s.close()


def test_reads_and_keyed_writes_are_sent_again(server: DroppingServer) -> None:
    with seed_http_client(server.url, timeout=5) as client:
        assert client.get("/v1/projects").json() == {"ok": True}
        keyed = client.post("/v1/programmes", json={"name": "x"}, headers={"Idempotency-Key": "seed-programme"})
        assert keyed.status_code == 200
    assert server.requests == [b"GET /v1/projects HTTP/1.1"] * 2 + [b"POST /v1/programmes HTTP/1.1"] * 2


def test_a_write_without_a_key_is_never_repeated(server: DroppingServer) -> None:
    with seed_http_client(server.url, timeout=5) as client, pytest.raises(httpx.TransportError):
        client.post("/v1/clock/advance", json={"days": 1})
    assert server.requests == [b"POST /v1/clock/advance HTTP/1.1"]
