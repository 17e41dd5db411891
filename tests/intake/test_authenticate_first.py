"""Authentication before anything else: an API request without a valid token is answered 401 before its body is
read (the ASGI app is driven directly, with a `receive` that fails the test if anything asks for the body)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.bootstrap import create_app
from shared.settings import Settings
from tests.platform import bootstrap_and_wait, running, runtime_of


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body of an unauthenticated request was read")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"min_seq=999999&wait_ms=5000", "root_path": "",
        "headers": [(b"host", b"t"), (b"content-type", b"application/json"), (b"content-length", b"5000"), *headers],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert dict(start["headers"])[b"content-type"] == b"application/problem+json"
    return start["status"], json.loads(body)


@pytest.mark.parametrize(
    "headers",
    [[], [(b"authorization", b"Bearer not-a-token")], [(b"authorization", b"Basic dTpw")]],
    ids=["no token", "unknown token", "not bearer"],
)
async def test_unauthenticated_requests_get_401_before_their_body_is_read(
    settings: Settings, headers: list[tuple[bytes, bytes]]
) -> None:
    app = create_app(settings)
    async with running(app):
        await bootstrap_and_wait(runtime_of(app))
        for method, path in [("POST", "/v1/projects"), ("POST", "/v1/projects/p1/progress-reports"),
                             ("GET", "/v1/projects/p1")]:  # fmt: skip
            status, problem = await call(app, method, path, headers)
            assert status == 401 and problem["instance"] == path, problem
