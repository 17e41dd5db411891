"""The gateway's control plane in-process (ASGI) in front of real upstream HTTP servers: the routing table, the
merged document, health, unknown paths; and the HAProxy configuration it renders. The forwarding itself is
HAProxy's, tested through the real process in tests/test_gateway_process.py."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from services.gateway.bootstrap import GatewaySettings, create_app
from services.gateway.haproxy import HAProxyError, haproxy_binary, parse_show_proc
from services.gateway.haproxy_config import HOP_BY_HOP_LUA, error_body, path_regex, render_config, server_address
from services.gateway.proxy import build_routes, compile_template
from shared.devstack.embedded import free_port
from shared.problems import Problem, problem_response
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


def test_server_addresses() -> None:
    assert server_address("http://intake:8000/") == "intake:8000"
    assert server_address("http://intake") == "intake:80"
    assert server_address("http://[::1]:9000") == "[::1]:9000"


def python_regex(haproxy_regex: str) -> re.Pattern[str]:
    """The PCRE pattern HAProxy gets, in Python's spelling (`\\x{2e}` is `\\.` there)."""
    return re.compile(re.sub(r"\\x\{([0-9a-f]+)\}", lambda m: re.escape(chr(int(m[1], 16))), haproxy_regex))


def test_path_regex_matches_what_the_control_plane_matches() -> None:
    """HAProxy matches the path as sent (percent-encoded), the control plane the decoded one."""
    templates = ["/v1/projects/{project_id}/progress-reports", "/v1/a.b/{x}", "/v1/q+r/{y}~z", "/v1/x", "/v1/引江/{z}"]
    paths = [
        "/v1/projects/p-1/progress-reports", "/v1/projects//progress-reports", "/v1/projects/p/q/progress-reports",
        "/v1/projects/p-1/progress-reports/x", "/v1/a.b/1", "/v1/aXb/1", "/v1/q+r/2~z", "/v1/qqr/2~z", "/v1/x",
        "/v1/x/", "/v1/xy", "/v1/引江/p", "/v1/引/p", "/v1/引江/p/q",
    ]  # fmt: skip
    for template in templates:
        ours = python_regex(path_regex(template))
        assert "'" not in path_regex(template) and " " not in path_regex(template)
        for path in paths:
            expected = bool(compile_template(template).match(path))
            for sent in (quote(path, safe="/+~"), quote(path, safe="/+~").lower()):
                assert bool(ours.match(sent)) == expected, (template, sent)


def use_backends(config: str) -> list[tuple[str, str, str | None]]:
    """(backend, path regex, methods) of each `use_backend` rule, in order."""
    rule = re.compile(r"use_backend (\S+) if \{ path_reg '([^']+)' \}(?: \{ method ([A-Z ]+) \})?$")
    found = [rule.search(line) for line in config.splitlines() if "use_backend" in line]
    assert all(found), config
    return [(m[1], m[2], m[3]) for m in found if m]


def backend_servers(config: str) -> dict[str, list[str]]:
    servers: dict[str, list[str]] = {}
    backend = ""
    for line in config.splitlines():
        if line.startswith("backend "):
            backend = line.split()[1]
        elif line.strip().startswith("server ") and backend:
            servers.setdefault(backend, []).append(line.split()[2])
    return servers


def test_haproxy_rules_follow_the_tables_precedence() -> None:
    """The rendered rules are `Gateway.match` as configuration: first rule whose path and method match wins."""
    a, b = "http://a:1", "http://b:2"
    specs = [
        (a, {"paths": {"/v1/p/{id}": {"get": {}, "delete": {}}, "/v1/p": {"post": {}}}}),
        (b, {"paths": {"/v1/p/open": {"get": {}}}}),
    ]
    config = render_config(
        listen="127.0.0.1:8080", control_socket="/run/g/gw.sock", lua_file="/run/g/hop.lua",
        routes=build_routes(specs), pools={a: ["a:1"], b: ["b:2", "b2:2"]},
    )  # fmt: skip
    assert use_backends(config) == [
        # Literal templates first; HEAD follows GET.
        ("upstream_0", "^/v1/p$", "POST"),
        ("upstream_1", "^/v1/p/open$", "GET HEAD"),
        ("upstream_0", "^/v1/p/[^/]+$", "GET HEAD DELETE"),
        # A known path with an undeclared method goes to its first owner, which answers 405.
        ("upstream_0", "^/v1/p$", None),
        ("upstream_1", "^/v1/p/open$", None),
        ("upstream_0", "^/v1/p/[^/]+$", None),
    ]  # so DELETE /v1/p/open reaches a (it declares DELETE /v1/p/{id}) and PUT /v1/p/open reaches b (405)
    # An upstream is a list of servers (issue 12 balances across them); the rest reaches the control plane.
    assert backend_servers(config) == {
        "upstream_0": ["a:1"],
        "upstream_1": ["b:2", "b2:2"],
        "control_plane": ["unix@/run/g/gw.sock"],
    }
    assert "    default_backend control_plane" in config.splitlines()
    assert "    http-request set-header Host b:2" in config.splitlines()  # the upstream sees its own host


def test_the_configuration_streams_reuses_connections_and_bounds_waiting() -> None:
    config = render_config(
        listen="127.0.0.1:8080", control_socket="/g/gw.sock", lua_file="/g/hop.lua", routes=[], pools={}
    )
    lines = {line.strip() for line in config.splitlines()}
    assert not any("http-buffer-request" in line for line in lines)  # bodies stream to the upstream
    assert {"http-reuse always", "option http-keep-alive", "nbthread 1"} <= lines
    assert {"timeout connect 2s", "timeout server 60s", "timeout http-keep-alive 60s"} <= lines
    assert "lua-load /g/hop.lua" in lines


def test_haproxy_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    """The real haproxy checks what the renderer writes, with names and literal characters a regex must escape."""
    a, b = "http://127.0.0.1:9", "http://intake:8000"
    specs = [
        (a, {"paths": {"/v1/p/{id}": {"get": {}}, "/v1/a.b+c": {"post": {}}, "/v1/引江济淮": {"get": {}}}}),
        (b, {"paths": {"/v1/p/open": {"get": {}}}}),
    ]
    lua = tmp_path / "hop.lua"
    lua.write_text(HOP_BY_HOP_LUA, encoding="utf-8")
    config = render_config(
        listen=f"127.0.0.1:{free_port()}", control_socket=str(tmp_path / "gw.sock"), lua_file=str(lua),
        routes=build_routes(specs), pools={a: ["127.0.0.1:9"], b: ["intake:8000"]},
    )  # fmt: skip
    (tmp_path / "haproxy.cfg").write_text(config, encoding="utf-8")
    checked = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_error_bodies_are_the_answers_the_control_plane_gave() -> None:
    """HAProxy answers a failed upstream itself now, with the body the control plane's problem answer had."""
    expression = "%[var(txn.path),url_dec,json(utf8s)]"
    for status, title, detail in (
        (503, "服务暂不可用", "上游服务暂时不可用,请稍后重试"),
        (504, "网关超时", "上游服务未能及时应答,请稍后重试"),
    ):
        rendered = error_body(status).replace(expression, "/v1/projects/p-1")
        before = problem_response(Problem(status, detail, title=title), "/v1/projects/p-1")
        assert json.loads(rendered) == json.loads(before.body)
    config = render_config(listen="127.0.0.1:8080", control_socket="/g/s", lua_file="/g/l", routes=[], pools={})
    errors = [line.strip() for line in config.splitlines() if line.strip().startswith("http-error")]
    assert [line.split()[2] for line in errors] == ["503", "504", "502"]
    assert all("content-type application/problem+json" in line and "hdr Retry-After 2" in line for line in errors)


def test_show_proc_tells_current_workers_from_old_ones() -> None:
    text = (
        "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
        "906             master          2 [failed: 1]   0d00h00m11s     2.6.12-1+deb12u4\n"
        "# workers\n"
        "1249            worker          0               0d00h00m01s     2.6.12-1+deb12u4\n"
        "# old workers\n"
        "909             worker          1               0d00h00m11s     2.6.12-1+deb12u4\n"
        "# programs\n\n"
    )
    processes = parse_show_proc(text)
    assert (processes.reloads, processes.failed, processes.workers) == (2, 1, (1249,))


def test_a_missing_haproxy_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert os.access(haproxy_binary(), os.X_OK)  # the distribution's package (make run / .ci/run install it)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH...
    monkeypatch.setattr("services.gateway.haproxy.SBIN", (str(tmp_path / "haproxy"),))  # ...nor in sbin
    with pytest.raises(HAProxyError, match="apt-get install haproxy"):
        haproxy_binary()
