"""`make run REPLICAS=...` read into process counts, and a service's replicas into one balanced HAProxy backend."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from services.gateway.bootstrap import GatewaySettings
from services.gateway.haproxy import haproxy_binary
from services.gateway.haproxy_config import HOP_BY_HOP_LUA, render_config
from services.gateway.proxy import build_routes
from shared.devstack.children import StackError
from shared.devstack.embedded import free_port
from shared.devstack.stack import parse_replicas

SERVICES = ["intake", "scheduling"]


def test_replicas_default_to_one_and_name_any_service() -> None:
    assert parse_replicas("", SERVICES) == {"intake": 1, "scheduling": 1}
    assert parse_replicas("scheduling=3, intake=2", SERVICES) == {"intake": 2, "scheduling": 3}


@pytest.mark.parametrize("spec", ["gateway=2", "scheduling", "scheduling=0", "scheduling=x", "scheduling=10"])
def test_a_wrong_replicas_setting_stops_make_run_naming_it(spec: str) -> None:
    with pytest.raises(StackError, match=re.escape("<service>=<1..9>")):
        parse_replicas(spec, SERVICES)


def test_the_gateway_reads_a_services_replicas_joined_by_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", "http://127.0.0.1:1|http://127.0.0.1:2/,http://127.0.0.1:3")
    assert GatewaySettings.from_env().replicas == {
        "http://127.0.0.1:1": ["http://127.0.0.1:1", "http://127.0.0.1:2"],
        "http://127.0.0.1:3": ["http://127.0.0.1:3"],
    }
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", "http://127.0.0.1:1|ftp://x")
    with pytest.raises(ValueError, match="ftp://x"):
        GatewaySettings.from_env()


def test_replicas_are_balanced_health_checked_and_retried_only_when_safe(tmp_path: Path) -> None:
    """The backend of a replicated service, checked by the real `haproxy -c`; a single server is left as it was."""
    a, b = "http://127.0.0.1:1", "http://127.0.0.1:3"
    specs = [(a, {"paths": {"/v1/p": {"get": {}, "post": {}}}}), (b, {"paths": {"/v1/q": {"get": {}}}})]
    lua = tmp_path / "hop.lua"
    lua.write_text(HOP_BY_HOP_LUA, encoding="utf-8")
    config = render_config(
        listen=f"127.0.0.1:{free_port()}", control_socket=str(tmp_path / "gw.sock"), lua_file=str(lua),
        routes=build_routes(specs), pools={a: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:4"], b: ["127.0.0.1:3"]},
    )  # fmt: skip
    replicated, single = config.split("backend upstream_0\n")[1].split("backend upstream_1\n")
    lines = {line.strip() for line in replicated.splitlines()}
    assert {"balance leastconn", "option httpchk GET /readyz", "http-check expect status 200"} <= lines
    assert {"retries 3", "option redispatch 1", "retry-on conn-failure empty-response"} <= lines
    assert "http-request disable-l7-retry if { method POST PATCH } !{ req.hdr(idempotency-key) -m found }" in lines
    assert sum(line.startswith("server ") and " check " in line for line in lines) == 3
    assert "check" not in single.split("backend control_plane")[0] and "retry-on" not in single
    (tmp_path / "haproxy.cfg").write_text(config, encoding="utf-8")
    checked = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
