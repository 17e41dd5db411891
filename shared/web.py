"""FastAPI plumbing every service shares: authentication, request context, read waits, health."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from shared.access_log import RecordAuditorAccess
from shared.auth import Principal
from shared.body_limit import BodyLimitMiddleware
from shared.commands import CommandMeta, Outcome
from shared.contract import install_contract, may_answer
from shared.docs import mount_docs
from shared.envelope import Role
from shared.eventstore import Context
from shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.problems import Problem, problem_response
from shared.responses import written_answer
from shared.runtime import Runtime
from shared.telemetry import CORRELATION_ID, FASTAPI_TELEMETRY, TracingMiddleware, current_trace_context

if TYPE_CHECKING:
    from shared.direct_commands import DirectCommand

log = logging.getLogger("tiaodu.http")


async def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def authenticate(request: Request) -> Principal:
    """The principal of the request's bearer token, from the runtime's cache (shared.auth.PrincipalCache)."""
    known: Principal | None = request.scope.get("state", {}).get("principal")
    if known is not None:  # AuthenticateFirst found it already
        return known
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "缺少或无效的 Authorization: Bearer 令牌", headers={"WWW-Authenticate": "Bearer"})
    runtime: Runtime = request.app.state.runtime
    principal = await runtime.principals.principal(runtime.pool, runtime.schema, token)
    if principal is None:
        # Unknown here is not yet invalid: the credential may be in the log but not in this process's read model.
        if not await runtime.caught_up_for_unknown_token():
            raise Problem(503, "身份信息正在同步,请稍后重试", headers={"Retry-After": "1"})
        runtime.principals.forget(token)
        principal = await runtime.principals.principal(runtime.pool, runtime.schema, token)
    if principal is None:
        raise Problem(401, "令牌无效或已吊销", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.scope.setdefault("state", {})["principal"] = principal  # for shared.access_log, which asks afterwards
    return principal


@may_answer(401, 403, authenticates=True)  # 403: the operation's policy may refuse this principal
async def current_principal(request: Request) -> Principal:
    return await authenticate(request)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role):  # type: ignore[no-untyped-def]
    @may_answer(403)
    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            allowed = "、".join(r.value for r in roles)
            raise Problem(403, f"角色 {principal.role.value} 无权执行此操作(需要:{allowed})")
        return principal

    return Depends(check)


def context_of(request: Request, principal: Principal) -> Context:
    correlation = request.headers.get("x-correlation-id") or str(uuid.uuid4())
    CORRELATION_ID.set(correlation)  # for the logs written while the request is handled
    # The request's server span (TracingMiddleware) is current here: the event carries its trace context.
    return Context(actor=principal.actor(), correlation_id=correlation, trace_context=current_trace_context())


async def request_context(request: Request, principal: PrincipalDep) -> Context:
    return context_of(request, principal)


ContextDep = Annotated[Context, Depends(request_context)]


# A version as the ETag gave it ("3"), weak (W/"3") or bare (3). ASCII digits only: str.isdigit() also accepts '²'.
# The OpenAPI document carries the same pattern, so that what it calls valid is exactly what is accepted.
IF_MATCH_PATTERN = r'^(W/)?("[0-9]{1,9}"|[0-9]{1,9})$'
IF_MATCH_RE = re.compile(IF_MATCH_PATTERN)


def parse_if_match(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip()  # optional whitespace around a header value is not part of it (RFC 9110)
    if not IF_MATCH_RE.fullmatch(value):
        raise Problem(400, "If-Match 须为版本号", errors=[{"field": "If-Match", "reason": "应为整数版本号"}])
    return int(value.removeprefix("W/").strip('"'))


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not (1 <= len(key) <= 200):
        raise Problem(
            400,
            "Idempotency-Key 长度须为 1-200",
            errors=[{"field": "Idempotency-Key", "reason": "长度须为 1-200 个字符"}],
        )
    return key


# The request headers every command may carry, as the OpenAPI document lists them (shared.contract adds them to each
# operation using `command_meta`, which reads them itself).
COMMAND_HEADERS = [
    {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "期望的当前版本(ETag)",
        "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "title": "If-Match",
                   "description": "期望的当前版本(ETag)"},
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "重试同一请求时带同一值:不会重复写入,按首次结果应答",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200, "title": "Idempotency-Key",
                   "description": "重试同一请求时带同一值:不会重复写入,按首次结果应答"},
    },
]  # fmt: skip


# One dependency for everything a command needs besides its body: FastAPI's cost grows with every dependency and
# parameter it solves per request, and this one is on every write, so it reads its two headers from the request
# itself (documented through COMMAND_HEADERS). 400: a malformed header; 401/403: the principal; 404/409: the command
# names something missing, a lost race or a state that forbids it; 412: If-Match is not the current version.
@may_answer(400, 401, 403, 404, 409, 412, authenticates=True, headers=COMMAND_HEADERS)
async def command_meta(request: Request) -> CommandMeta:
    principal = await authenticate(request)
    headers = request.headers
    return CommandMeta(
        principal=principal,
        context=context_of(request, principal),
        if_match=parse_if_match(headers.get("if-match")),
        idempotency_key=check_idempotency_key(headers.get("idempotency-key")),
    )


MetaDep = Annotated[CommandMeta, Depends(command_meta)]


@may_answer(422, 504)  # min_seq beyond the log's end; a projection that lags beyond wait_ms
async def wait_min_seq(
    runtime: RuntimeDep,
    principal: PrincipalDep,  # authentication first: an unauthenticated read never waits
    min_seq: Annotated[int | None, Query(ge=0, description="等待读模型至少到达该流序号(读己之写)")] = None,
    wait_ms: Annotated[int | None, Query(ge=0, le=30000, description="最长等待毫秒数,默认 2000")] = None,
) -> None:
    if min_seq is None or await runtime.runner.reached(min_seq):
        return
    last = await runtime.store.last_seq()
    if min_seq > last:  # no write answered with this sequence: waiting could not help
        raise Problem(
            422,
            f"min_seq {min_seq} 超出事件日志末尾(当前 {last})",
            errors=[{"field": "min_seq", "reason": f"超出事件流最后序号 {last}"}],
            last_seq=last,
        )
    timeout = (wait_ms if wait_ms is not None else runtime.settings.read_wait_default_s * 1000) / 1000
    if not await runtime.runner.wait_for(min_seq, timeout):
        raise Problem(
            504,
            f"读模型在 {timeout:g} 秒内未到达序号 {min_seq},请稍后重试",
            min_seq=min_seq,
            projection=runtime.schema,
        )


MinSeqDep = Depends(wait_min_seq)


def written(
    outcome: Outcome, response: Response, status: int = 200, *, location: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A write's answer: `{id, version, seq}` (plus extras), its status, the new version as ETag (the body, with the
    status and headers set on FastAPI's `response`)."""
    answer = written_answer(outcome, status, location=location, **extra)
    response.status_code = answer.status
    response.headers.update(answer.headers)
    return answer.body


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        ok = await runtime.ready()
        body: dict[str, object] = {"status": "ready" if ok else "not ready"}
        if ok:
            # Parked events do not make a service unready (anyone able to publish a bad event would otherwise take
            # it out of rotation) but they must be seen: they name an event nobody applied.
            body["parked_events"] = await runtime.parked()
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(runtime: RuntimeDep) -> Response:
        # On the service's own port for Prometheus; not in the OpenAPI document, so the gateway does not route it.
        await runtime.metrics.refresh(runtime)
        return Response(runtime.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @router.get("/projection/{service}", include_in_schema=False)
    async def projection_status(service: str, runtime: RuntimeDep) -> dict[str, object]:
        if service != runtime.service:
            raise Problem(404, "no such projection")
        return await runtime.status()

    return router


class AuthenticateFirst:
    """Authentication before anything else (ASGI, outermost): an API request without a valid bearer token is
    answered 401 at once. FastAPI reads a body before it solves dependencies; this way an unauthenticated client
    never has its body read (nor waits on `min_seq`). A failure to authenticate for another reason (the database
    away) is left to the app, which answers it as always (503 with Retry-After)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)  # health, OpenAPI and docs are public
            return
        try:
            principal = await authenticate(Request(scope))
        except Problem as problem:
            await problem_response(problem, scope["path"])(scope, receive, send)
            return
        except Exception as exc:
            # Not a verdict on the token (the database away, a connection broken by a restart...): the app
            # authenticates again and answers whatever happens there as it always does (503 with Retry-After).
            log.warning("authentication deferred to the app on %s: %s: %s", scope["path"], type(exc).__name__, exc)
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def service_app(
    *,
    title: str,
    description: str,
    lifespan: Lifespan[FastAPI],
    routers: Sequence[tuple[APIRouter, str]],
    runs_api: bool,
    direct: Sequence[DirectCommand] = (),
) -> FastAPI:
    """A service's FastAPI app: the common middleware, health and offline /docs, and its routers (each with its
    prefix, in the order given: FastAPI tries them in turn) when the process serves the API, with the `direct`
    routes of its commands issued most (shared.direct_commands); a `worker` process serves its health endpoints
    only."""
    app = FastAPI(
        telemetry=FASTAPI_TELEMETRY,
        title=title,
        version="1.0.0",
        description=description,
        lifespan=lifespan,
        docs_url=None,  # shared.docs serves /docs with Swagger UI's files from the service itself
        redoc_url=None,
    )
    install_common(app, direct if runs_api else ())
    if runs_api:
        for router, prefix in routers:
            app.include_router(router, prefix=prefix)
    return app


def install_common(app: FastAPI, direct: Sequence[DirectCommand] = ()) -> None:
    from shared.direct_commands import DirectCommands
    from shared.problems import install_problem_handlers

    install_problem_handlers(app)
    install_contract(app)
    app.include_router(health_router())
    if app.docs_url is None and app.openapi_url is not None:  # the app leaves /docs to us: served from here
        mount_docs(app, openapi_url=app.openapi_url, title=f"{app.title} · 接口文档")
    if direct:  # innermost; it finds its FastAPI routes when the app starts (they are included after this)
        app.add_middleware(DirectCommands, fastapi=app, commands=direct)
    app.add_middleware(RecordAuditorAccess)  # inside the others: the principal is known, the request's span current
    app.add_middleware(TracingMiddleware)
    app.add_middleware(BodyLimitMiddleware)  # a body over the limit is never read
    app.add_middleware(AuthenticateFirst)  # outermost: nor is the body of an unauthenticated request
