"""The gateway's routing table rendered as Caddy's JSON configuration (Caddy is the data plane, docs/adr/0010).

Pure functions: `render_config` turns the routes computed from the upstreams' OpenAPI documents into one document
that `POST /load` on Caddy's admin endpoint replaces whole. Every request an upstream declares is proxied by Caddy
straight to that upstream; everything else (/openapi.json, /docs, /healthz, /readyz, unknown paths) and every
failed proxy attempt goes to the Python control plane listening on its own unix socket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from services.gateway.proxy import Route, compile_template

# Set by Caddy's error route only (and deleted from every request it passes on otherwise), so the control plane
# can tell "the upstream of this path failed with <status>" from a client's request.
UPSTREAM_ERROR_HEADER = "X-Tiaodu-Upstream-Error"

# The same bounds as the Python proxy had: connecting is quick or the upstream is away; reads may wait for a
# projection (min_seq, wait_ms) and reports render documents, so generous but bounded; writes are small.
DIAL_TIMEOUT = "2s"
READ_TIMEOUT = "60s"
WRITE_TIMEOUT = "10s"
# uvicorn closes an idle keep-alive connection after 5 s: Caddy drops its own first, so it never sends on a
# connection the upstream is closing.
KEEPALIVE_IDLE_TIMEOUT = "4s"
MAX_IDLE_CONNS_PER_UPSTREAM = 128
# A reload (new routes) or a stop lets running requests finish this long; streams beyond it are cut.
GRACE_PERIOD = "5s"
# What `X-Forwarded-For` the upstreams see: like the Python proxy before, the client's own header is kept and
# the peer appended (a load balancer or ingress in front of the gateway is a proxy too).
TRUSTED_PROXIES = ["0.0.0.0/0", "::/0"]


def dial_address(base_url: str) -> str:
    """`http://intake:8000` → `intake:8000`, the form of Caddy's upstream `dial`."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"gateway: upstream {base_url!r} must be an http:// URL with a host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 80}"


def reverse_proxy(dials: Sequence[str], *, upstream_host: bool = True) -> dict[str, Any]:
    """Streaming keep-alive proxy to one service; `dials` is a list so replicas can be balanced (issue 12)."""
    handler: dict[str, Any] = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": dial} for dial in dials],
        # No flush_interval: Caddy flushes every write of a streaming answer (SSE, unknown length) by itself, and
        # buffers a sized answer in 32 KiB writes; flushing every write (-1) cost a third of its CPU per request.
        "transport": {
            "protocol": "http",
            "versions": ["1.1"],
            "dial_timeout": DIAL_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "write_timeout": WRITE_TIMEOUT,
            "keep_alive": {
                "enabled": True,
                "idle_timeout": KEEPALIVE_IDLE_TIMEOUT,
                "max_idle_conns_per_host": MAX_IDLE_CONNS_PER_UPSTREAM,
            },
        },
    }
    if upstream_host:
        # The upstream sees its own host, the one the client asked for in X-Forwarded-Host, and the gateway says
        # so itself: trusting every peer (TRUSTED_PROXIES) would otherwise pass a client's own -Host and -Proto on.
        forwarded = {
            "Host": ["{http.reverse_proxy.upstream.hostport}"],
            "X-Forwarded-Host": ["{http.request.hostport}"],
            "X-Forwarded-Proto": ["{http.request.scheme}"],
        }
        handler["headers"] = {"request": {"set": forwarded}}
    return handler


def unix_dial(socket_path: str) -> str:
    return f"unix/{socket_path}"


def service_routes(routes: Sequence[Route], pools: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """One Caddy route per template and upstream with its methods, in the table's precedence order, then one per
    template without a method: a known path with an unknown method goes to its owner, which answers 405.

    This is `Gateway.match` as configuration: the first route whose path and method match wins (a literal segment
    sorts before a parameter), HEAD follows GET, and a path whose method nobody declares goes to the upstream of
    its first route. A parameter is one segment (`[^/]+`), so the matcher is the template's regular expression.
    """
    by_template: dict[str, list[Route]] = {}
    for route in routes:
        by_template.setdefault(route.template, []).append(route)
    declared = {(r.template, r.method) for r in routes}
    with_method: list[dict[str, Any]] = []
    path_only: list[dict[str, Any]] = []
    for template, group in by_template.items():
        path = {"path_regexp": {"pattern": compile_template(template).pattern}}
        methods: dict[str, list[str]] = {}
        for route in group:
            methods.setdefault(route.upstream, []).append(route.method.upper())
            if route.method == "get" and (template, "head") not in declared:
                methods[route.upstream].append("HEAD")
        for upstream, names in methods.items():
            with_method.append({"match": [path | {"method": names}], "handle": [reverse_proxy(pools[upstream])]})
        path_only.append({"match": [path], "handle": [reverse_proxy(pools[group[0].upstream])]})
    return with_method + path_only


def render_config(
    *,
    listen: str,
    admin_socket: str,
    control_socket: str,
    routes: Sequence[Route],
    pools: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """The whole Caddy document. `listen` is the public address (`host:port`), `admin_socket` Caddy's admin
    endpoint and `control_socket` the Python app's, both unix sockets in a folder only this user can open."""
    control_plane = reverse_proxy([unix_dial(control_socket)], upstream_host=False)
    to_control_plane = {
        "handle": [
            # Only Caddy's error route may say an upstream failed: a client's own header never gets through.
            {"handler": "headers", "request": {"delete": [UPSTREAM_ERROR_HEADER]}},
            control_plane,
        ]
    }
    upstream_failed = {
        "handle": [
            # The request method and path stay as they were: the control plane answers 503/504 problem+json
            # naming the path, never the upstream's address.
            {"handler": "headers", "request": {"set": {UPSTREAM_ERROR_HEADER: ["{http.error.status_code}"]}}},
            # Its body, if any, was for the upstream and may be half read: the control plane gets a body of its
            # own (a consumed body with its old Content-Length would fail this second proxying).
            {"handler": "rewrite", "method": "GET"},
            {"handler": "request_body", "set": "upstream failed"},
            control_plane,
        ]
    }
    server = {
        "listen": [listen],
        "protocols": ["h1"],  # plain HTTP/1.1 like the services; TLS ends at the ingress or load balancer
        "automatic_https": {"disable": True},
        "trusted_proxies": {"source": "static", "ranges": TRUSTED_PROXIES},
        "routes": [*service_routes(routes, pools), to_control_plane],
        "errors": {"routes": [upstream_failed]},
    }
    return {
        "admin": {"listen": unix_dial(admin_socket), "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {"http": {"grace_period": GRACE_PERIOD, "servers": {"gateway": server}}},
    }


def admin_only_config(admin_socket: str) -> dict[str, Any]:
    """What Caddy starts with: its admin endpoint and nothing public until the first routing table is loaded."""
    return {"admin": {"listen": unix_dial(admin_socket), "config": {"persist": False}}}
