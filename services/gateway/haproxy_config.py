"""The gateway's routing table rendered as an HAProxy configuration (HAProxy is the data plane, docs/adr/0013).

Pure functions: `render_config` turns the routes computed from the upstreams' OpenAPI documents into the text of
one configuration file, which the master process reloads gracefully (`haproxy.py`). Every request an upstream
declares is proxied by HAProxy straight to that upstream's backend; everything else (/openapi.json, /docs,
/healthz, /readyz, unknown paths) goes to the Python control plane on its unix socket. An upstream that refuses,
is unreachable or answers nothing in time gets HAProxy's own 503/504 problem+json, the same body the control plane
answered before (`error_body`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from services.gateway.proxy import Route

# The same bounds as before (0003, 0010): connecting is quick or the upstream is away; reads may wait for a
# projection (min_seq, wait_ms) and reports render documents, so generous but bounded. A client has 10 s to send
# its request head (slow clients hold no worker), 60 s of silence in a body or a stream, and an idle keep-alive
# connection is kept 60 s.
TIMEOUT_CONNECT = "2s"
TIMEOUT_SERVER = "60s"
TIMEOUT_CLIENT = "60s"
TIMEOUT_HTTP_REQUEST = "10s"
TIMEOUT_KEEP_ALIVE = "60s"
# A reload (new routes) or a stop lets running requests finish this long; streams beyond it are cut.
GRACE_PERIOD = "5s"
RETRY_AFTER_S = 2  # a restarting service is back within seconds (make run, a rolling deploy)
CONTROL_PLANE = "control_plane"

# HAProxy's own Prometheus exporter (built in: `haproxy -vv` lists the prometheus-exporter service), on a port of
# its own (TIAODU_GATEWAY_METRICS_PORT), never on the public front: requests, responses by class, healthy replicas
# and response times per backend. The families the Grafana dashboard reads (deploy/grafana, tested against a scrape).
METRICS_PATH = "/metrics"
GATEWAY_METRICS = (
    "haproxy_frontend_http_requests_total",
    "haproxy_backend_http_responses_total",
    "haproxy_backend_active_servers",
    "haproxy_backend_response_time_average_seconds",
)

# HAProxy marks its own 502 (an upstream that closed or answered garbage) with this response header, so that only
# that answer, never an upstream's own 502, is turned into the documented 503; it never leaves the gateway.
GATEWAY_ERROR_HEADER = "X-Tiaodu-Gateway-Error"

# A header named in the request's Connection header is hop-by-hop (RFC 9110 7.6.1): HAProxy drops Connection
# itself but not the headers it names, whose names are only known per request, hence these few lines of Lua (run
# only for a request with a Connection header).
HOP_BY_HOP_LUA = """\
core.register_action("drop_connection_options", {"http-req"}, function(txn)
  local connection = txn.http:req_get_headers()["connection"]
  if connection == nil then return end
  for _, value in pairs(connection) do
    for token in string.gmatch(value, "[^,%s]+") do
      txn.http:req_del_header(token)
    end
  end
end)
"""

# A Connection header that names nothing but the connection's persistence: no header to drop.
_ONLY_PERSISTENCE = r"^\s*(keep-alive|close)(\s*,\s*(keep-alive|close))*\s*$"

# The answers the control plane gave when Caddy reported a failed upstream (0010), now HAProxy's own: the status,
# the title and the detail, naming the request's path (`instance`), never an address.
_FAILURES = {
    503: ("服务暂不可用", "上游服务暂时不可用,请稍后重试"),
    504: ("网关超时", "上游服务未能及时应答,请稍后重试"),
}
# Placeholder for the request path inside a rendered body: replaced by HAProxy's log-format expression.
_INSTANCE = "@@instance@@"


def server_address(base_url: str) -> str:
    """`http://intake:8000` → `intake:8000`, the form of an HAProxy `server` line."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"gateway: upstream {base_url!r} must be an http:// URL with a host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 80}"


def _needs_dns(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def path_regex(template: str) -> str:
    """`/v1/projects/{project_id}` → `^/v1/projects/[^/]+$`, as `compile_template` matches (a parameter is one
    segment), for the path as HAProxy sees it: not decoded, so a non-ASCII character is matched as its
    percent-encoded UTF-8 (either case of hex digit). Other literal characters than letters, digits and `/_-~` are
    PCRE `\\x{..}` escapes, so the pattern holds no quote, space or backslash sequence HAProxy's parser reads."""
    out: list[str] = []
    in_param = False
    for char in template:
        if in_param:
            in_param = char != "}"
        elif char == "{":
            in_param = True
            out.append("[^/]+")
        elif not char.isascii():
            out += ["%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{b:02X}") for b in char.encode()]
        elif char.isalnum() or char in "/_-~":
            out.append(char)
        else:
            out.append(f"\\x{{{ord(char):02x}}}")
    return "^" + "".join(out) + "$"


def backend_name(upstream: str, upstreams: Sequence[str]) -> str:
    return f"upstream_{upstreams.index(upstream)}"


def error_body(status: int) -> str:
    """The problem+json body HAProxy answers for a failed upstream, as an HAProxy log-format string: the same JSON
    `shared.problems.problem_response` wrote (compact, UTF-8), with `instance` the decoded request path."""
    title, detail = _FAILURES[status]
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": _INSTANCE}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if "'" in text or "%" in text:  # rendered between single quotes, and `%` starts an expression
        raise ValueError(f"gateway: an error body cannot be written as an HAProxy string: {text}")
    return text.replace(_INSTANCE, "%[var(txn.path),url_dec,json(utf8s)]")


def _http_error(status: int, *, reported_as: int | None = None) -> str:
    answered = reported_as or status
    line = (
        f"    http-error status {status} content-type application/problem+json "
        f"lf-string '{error_body(answered)}' hdr Retry-After {RETRY_AFTER_S}"
    )
    if reported_as is not None:
        line += f" hdr {GATEWAY_ERROR_HEADER} {status}"
    return line


# Replicas of a service (issue 12, docs/adr/0034): a server is in rotation while its /readyz answers 200, checked
# every second (half a second while it is failing); one failed check takes it out, one good one puts it back. A
# killed replica is out within about a second, and until then its requests are retried on another server.
HEALTH_CHECK = "check inter 1s fastinter 500ms downinter 1s fall 1 rise 1"
# Retried on another replica when the connection failed (nothing was sent: any method) or when the replica closed
# without answering (it died holding the request): only a request that is safe to send twice (RFC 9110 9.2.2:
# GET, HEAD, PUT, DELETE, OPTIONS) or a command carrying an Idempotency-Key, whose event id is derived from the key
# so a second append is the same event (shared/commands.py).
RETRY_ON = "conn-failure empty-response"
_NOT_IDEMPOTENT = "{ method POST PATCH } !{ req.hdr(idempotency-key) -m found }"


def _backend(name: str, servers: Sequence[str], *, host_header: bool, check_dns: bool) -> list[str]:
    lines = [f"backend {name}"]
    replicated = len(servers) > 1
    if host_header:
        # The upstream sees its own host (the client's is in X-Forwarded-Host), as it would if called directly;
        # with replicas, the first one's (a service reads nothing from it).
        lines.append(f"    http-request set-header Host {servers[0]}")
    # One retry: a pooled connection the upstream closed at that instant is retried at once (HAProxy waits
    # min(timeout connect, 1 s) only before retrying a fresh connection to the same server). With replicas, as
    # many retries as servers, each on another one if it can (`redispatch 1`; leastconn may pick the same one
    # again while the health check has not yet taken a dead one out), so one dead replica never fails a request
    # that may be retried.
    lines.append(f"    retries {len(servers) if replicated else 1}")
    lines.append("    option redispatch 1")
    if replicated:
        # The replica with the fewest requests in hand: a slow or busy one (a rebuild, a long report) gets fewer.
        lines.append("    balance leastconn")
        lines.append(f"    retry-on {RETRY_ON}")
        lines.append(f"    http-request disable-l7-retry if {_NOT_IDEMPOTENT}")
        lines.append("    option httpchk GET /readyz")
        lines.append("    http-check expect status 200")
    for i, address in enumerate(servers):
        dns = " resolvers system init-addr libc,none" if check_dns and _needs_dns(address) else ""
        check = f" {HEALTH_CHECK}" if replicated else ""
        lines.append(f"    server s{i} {address}{dns}{check}")
    return lines


def render_config(
    *,
    listen: str,
    control_socket: str,
    lua_file: str,
    routes: Sequence[Route],
    pools: Mapping[str, Sequence[str]],
    metrics_listen: str | None = None,
) -> str:
    """The whole HAProxy configuration. `listen` is the public address (`host:port`), `control_socket` the
    Python app's unix socket, `lua_file` where HOP_BY_HOP_LUA is; `pools` maps an upstream's base URL to its
    server addresses (its replicas, balanced and health-checked when more than one: docs/adr/0034);
    `metrics_listen`, when given, the address of HAProxy's Prometheus exporter."""
    upstreams = list(pools)
    dns = any(_needs_dns(a) for servers in pools.values() for a in servers)
    lines = [
        "global",
        # One thread: it forwards thousands of requests a second, and on a machine whose cores the services keep
        # busy more threads spend CPU waking each other (as Caddy's Go threads did, 0010).
        "    nbthread 1",
        f"    hard-stop-after {GRACE_PERIOD}",
        f"    lua-load {lua_file}",
        "",
        "defaults",
        "    mode http",
        f"    timeout connect {TIMEOUT_CONNECT}",
        f"    timeout server {TIMEOUT_SERVER}",
        f"    timeout client {TIMEOUT_CLIENT}",
        f"    timeout http-request {TIMEOUT_HTTP_REQUEST}",
        f"    timeout http-keep-alive {TIMEOUT_KEEP_ALIVE}",
        # Keep-alive both ways, and any idle upstream connection serves any client: a command costs no connect.
        # No `option http-buffer-request`: request bodies stream to the upstream as they arrive, as answers do.
        "    option http-keep-alive",
        "    http-reuse always",
        _http_error(503),
        _http_error(504),
        _http_error(502, reported_as=503),
        "",
    ]
    if dns:
        # Upstreams by name (compose, Kubernetes) are resolved again while running, not only at a reload.
        lines += ["resolvers system", "    parse-resolv-conf", "    hold valid 10s", ""]
    if metrics_listen is not None:
        lines += _metrics_frontend(metrics_listen)
    lines += [
        "frontend gateway",
        f"    bind {listen}",
        # What the upstreams' error bodies name: the path as the client sent it.
        "    http-request set-var(txn.path) path",
        # Lua only for a Connection header naming more than keep-alive or close (most clients send none or those).
        "    http-request lua.drop_connection_options if { req.fhdr_cnt(connection) gt 1 } ||"
        f" {{ req.fhdr(connection) -m found }} !{{ req.fhdr(connection) -m reg -i '{_ONLY_PERSISTENCE}' }}",
        # The client's X-Forwarded-For kept with the peer appended, in one header (`option forwardfor` would add
        # a second header, and frameworks read the first as the whole chain); Host and Proto are the gateway's
        # own say, never the client's.
        '    http-request set-header X-Forwarded-For "%[req.fhdr(X-Forwarded-For)], %[src]"'
        " if { req.fhdr_cnt(X-Forwarded-For) eq 1 }",
        "    http-request add-header X-Forwarded-For %[src] unless { req.fhdr_cnt(X-Forwarded-For) eq 1 }",
        "    http-request set-header X-Forwarded-Host %[req.hdr(host)]",
        "    http-request set-header X-Forwarded-Proto http",
        f"    http-request del-header {GATEWAY_ERROR_HEADER}",
        f"    http-response del-header {GATEWAY_ERROR_HEADER}",
        # HAProxy's 502 (the upstream closed or answered garbage) is the documented 503 of every operation.
        f"    http-after-response set-status 503 if {{ status 502 }} {{ res.hdr({GATEWAY_ERROR_HEADER}) -m found }}",
        f"    http-after-response del-header {GATEWAY_ERROR_HEADER} if {{ res.hdr({GATEWAY_ERROR_HEADER}) -m found }}",
        *_use_backends(routes, upstreams),
        f"    default_backend {CONTROL_PLANE}",
        "",
    ]
    for upstream in upstreams:
        lines += [*_backend(backend_name(upstream, upstreams), pools[upstream], host_header=True, check_dns=dns), ""]
    lines += _backend(CONTROL_PLANE, [f"unix@{control_socket}"], host_header=False, check_dns=False)
    return "\n".join(lines) + "\n"


def _metrics_frontend(metrics_listen: str) -> list[str]:
    """The exporter answers METRICS_PATH on its own address; anything else there is a 404 (no stats page, no API)."""
    return [
        "frontend metrics",
        f"    bind {metrics_listen}",
        f"    http-request use-service prometheus-exporter if {{ path {METRICS_PATH} }}",
        '    http-request return status 404 content-type text/plain string "not found"',
        "",
    ]


def _use_backends(routes: Sequence[Route], upstreams: Sequence[str]) -> list[str]:
    """One rule per template and upstream with its methods, in the table's precedence order, then one per template
    without a method: a known path with an unknown method goes to its owner, which answers 405.

    This is `Gateway.match` as configuration: the first rule whose path and method match wins (a literal segment
    sorts before a parameter), HEAD follows GET, and a path whose method nobody declares goes to the upstream of
    its first route."""
    by_template: dict[str, list[Route]] = {}
    for route in routes:
        by_template.setdefault(route.template, []).append(route)
    declared = {(r.template, r.method) for r in routes}
    with_method: list[str] = []
    path_only: list[str] = []
    for template, group in by_template.items():
        path = f"{{ path_reg '{path_regex(template)}' }}"  # single quotes: HAProxy reads it as it is
        methods: dict[str, list[str]] = {}
        for route in group:
            methods.setdefault(route.upstream, []).append(route.method.upper())
            if route.method == "get" and (template, "head") not in declared:
                methods[route.upstream].append("HEAD")
        for upstream, names in methods.items():
            backend = backend_name(upstream, upstreams)
            with_method.append(f"    use_backend {backend} if {path} {{ method {' '.join(names)} }}")
        path_only.append(f"    use_backend {backend_name(group[0].upstream, upstreams)} if {path}")
    return with_method + path_only
