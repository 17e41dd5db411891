"""Each service's own `/v1/audit/rebuild-diffs/<service>` reaches that service through the gateway, while every other
`/v1/audit/...` path reaches the audit service, whatever templates it declares: a literal segment wins over a
parameter, in the control plane's table and in the HAProxy rules rendered from it. The four services' real OpenAPI
documents (no server needed: the apps are built, not started)."""

from __future__ import annotations

import re
from typing import Any

from services.gateway.haproxy_config import render_config
from services.gateway.proxy import Route, build_routes
from services.intake.bootstrap import create_app as create_intake
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.notification.bootstrap import create_app as create_notification
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.settings import Settings

AUDIT = "http://audit:8000"
# What the audit service may well declare: listings, and templates under /v1/audit that would also match a
# service's literal rebuild-diff path if precedence were wrong.
AUDIT_SPEC: dict[str, Any] = {
    "paths": {
        "/v1/audit/events": {"get": {}},
        "/v1/audit/access-log": {"get": {}},
        "/v1/audit/rebuild-diffs/{service}": {"get": {}, "post": {}},
        "/v1/audit/{kind}/{name}": {"get": {}},
    }
}


def specs() -> list[tuple[str, dict[str, Any]]]:
    settings = Settings(nats_url="nats://unused:4222", database_url="postgresql://unused/none")  # never connected
    apps = {
        "http://intake:8000": create_intake(settings),
        "http://scheduling:8000": create_scheduling(settings),
        "http://issue-coordination:8000": create_issue_coordination(settings),
        "http://notification:8000": create_notification(settings),
    }
    # The audit service first: the order must not matter, only specificity.
    return [(AUDIT, AUDIT_SPEC)] + [(url, app.openapi()) for url, app in apps.items()]


def first_match(routes: list[Route], method: str, path: str) -> str | None:
    """`Gateway.match`: the first route in the table's order whose pattern and method match."""
    for route in routes:
        if route.pattern.match(path) and route.method == method:
            return route.upstream
    return None


def test_each_service_s_rebuild_diff_path_goes_to_it_and_the_rest_to_audit() -> None:
    routes = build_routes(specs())
    for service, host in [("intake", "intake"), ("scheduling", "scheduling"),
                          ("issue_coordination", "issue-coordination"), ("notification", "notification")]:  # fmt: skip
        for method in ("get", "post"):
            assert first_match(routes, method, f"/v1/audit/rebuild-diffs/{service}") == f"http://{host}:8000"
    assert first_match(routes, "get", "/v1/audit/rebuild-diffs/audit") == AUDIT
    assert first_match(routes, "get", "/v1/audit/events") == AUDIT
    assert first_match(routes, "get", "/v1/audit/access-log") == AUDIT
    assert first_match(routes, "get", "/v1/audit/seals/latest") == AUDIT


def test_the_haproxy_rules_put_the_literal_paths_before_the_audit_templates() -> None:
    routes = build_routes(specs())
    pools = {upstream: [upstream.removeprefix("http://")] for upstream in dict.fromkeys(r.upstream for r in routes)}
    config = render_config(listen="127.0.0.1:8080", control_socket="/run/g/gw.sock", lua_file="/run/g/hop.lua",
                           routes=routes, pools=pools)  # fmt: skip
    rule = re.compile(r"use_backend (\S+) if \{ path_reg '([^']+)' \}(?: \{ method ([A-Z ]+) \})?$")
    rules = [m for line in config.splitlines() if (m := rule.search(line))]
    backends = {upstream: f"upstream_{i}" for i, upstream in enumerate(pools)}

    def first_rule(path: str, method: str) -> str:
        return next(m[1] for m in rules if re.match(m[2], path) and (m[3] is None or method in m[3].split()))

    assert first_rule("/v1/audit/rebuild-diffs/intake", "GET") == backends["http://intake:8000"]
    assert first_rule("/v1/audit/rebuild-diffs/intake", "POST") == backends["http://intake:8000"]
    assert first_rule("/v1/audit/rebuild-diffs/notification", "GET") == backends["http://notification:8000"]
    assert first_rule("/v1/audit/rebuild-diffs/audit", "GET") == backends[AUDIT]
    assert first_rule("/v1/audit/events", "GET") == backends[AUDIT]
