"""RFC 9457 problem details: every error names the field and the reason, in Simplified Chinese by default."""

from __future__ import annotations

import logging
from typing import Any

import nats.errors
import nats.js.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import CONNECTION_ERRORS
from shared.domain_errors import DomainError
from shared.field_reasons import chinese_reason

# Errors that mean a dependency is away (answered 503 with Retry-After), not that the request is wrong.
UNAVAILABLE: tuple[type[Exception], ...] = (
    *CONNECTION_ERRORS,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.TimeoutError,  # a publish not acknowledged in time: its outcome is unknown, retry with the key
    TimeoutError,
    # The stream has no leader for a moment (a NATS server of the cluster died, a new leader is being elected):
    # nothing was stored, the same request succeeds shortly (tests/deploy/test_nats_cluster.py).
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)

log = logging.getLogger("tiaodu.http")

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "请求有误",
    401: "未认证",
    403: "无权操作",
    404: "未找到",
    405: "方法不允许",
    409: "版本冲突",
    412: "前置条件不满足",
    413: "请求体过大",
    415: "不支持的媒体类型",
    422: "输入校验失败",
    428: "需要前置条件",
    500: "服务器内部错误",
    503: "服务暂不可用",
    504: "读模型尚未同步",
}


# The body of every problem answer, as the OpenAPI document describes it (shared.contract). Extensions such as
# `current_version` or `last_seq` are named in `detail` and allowed by additionalProperties.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 问题详情;errors 列出出错的字段与原因",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}


class Problem(Exception):
    """A deliberate error answer. `errors` lists {field, reason} pairs."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.title = title or TITLES.get(status, "错误")
        self.headers = headers or {}
        self.extra = extra


def field_error(field: str, reason: str, status: int = 422) -> Problem:
    return Problem(status, f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


def from_domain(error: DomainError) -> Problem:
    errors = [{"field": error.field, "reason": error.reason}] if error.field else None
    return Problem(error.status, error.detail, errors=errors, **error.extra)


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
        return "body"  # malformed JSON: pydantic reports a character offset, not a field
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


# What FastAPI raises (as a 400) when a JSON body cannot even be decoded; like malformed JSON it is a 422 here.
FASTAPI_UNPARSABLE_BODY = "There was an error parsing the body"


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this request's path (the Allow header of a 405)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        path_regex = getattr(route, "path_regex", None)
        if path_regex is not None and path_regex.match(request.scope["path"]) and route.methods:
            methods |= route.methods
    return sorted(methods)


def install_problem_handlers(app: FastAPI) -> None:
    async def _answered(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(problem_of(exc, request.method, request.url.path), request.url.path)

    # A problem, a domain error, a dependency away, anything else: as problem_of says (shared.direct_commands too).
    for kind in (Problem, DomainError, *UNAVAILABLE, Exception):
        app.add_exception_handler(kind, _answered)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _loc_to_field(e.get("loc", ())), "reason": chinese_reason(e)} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem_response(Problem(422, detail, errors=errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_UNPARSABLE_BODY:  # e.g. bytes that are not UTF-8
            return problem_response(field_error("body", "不是有效的 JSON 文本(UTF-8)"), request.url.path)
        problem = Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        if exc.status_code == 405:
            # Starlette names only the methods of the first route whose path matched; clients need all of them.
            problem.headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(problem, request.url.path)


def problem_of(exc: Exception, method: str, path: str) -> Problem:
    """The answer to an exception a route raised (the app's handlers and shared.direct_commands agree through this):
    a problem as it is, a domain error's own, a dependency away 503 with when to retry, anything else 500, logged."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, DomainError):
        return from_domain(exc)
    if isinstance(exc, UNAVAILABLE):
        # A dependency (PostgreSQL, NATS) is away: say so at once, with when to retry, never a stack trace.
        log.warning("dependency unavailable on %s %s: %s: %s", method, path, type(exc).__name__, exc)
        retry = "依赖服务暂不可用,请稍后重试(写请求请带 Idempotency-Key 重试)"
        return Problem(503, retry, headers={"Retry-After": "1"})
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return Problem(500, "服务器内部错误,已记录日志")
