"""The OpenAPI document as a contract: every operation lists each status and content type it can answer.

FastAPI documents the success answer and a 422 in its own format; the services answer errors as
application/problem+json (shared.problems) from dependencies and handlers it cannot see. So the document is
post-processed once per app: each dependency of shared.web declares the statuses it may answer (`may_answer`),
and an operation documents the union over its dependency tree, plus what its shape implies (a path parameter can
name something missing: 404; parameters or a body can be invalid: 422; a body can be too large: 413) and what any
operation can meet (a dependency away: 503 with Retry-After).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from shared.problems import PROBLEM_JSON, PROBLEM_SCHEMA, TITLES

F = TypeVar("F", bound=Callable[..., Any])

SECURITY_SCHEME = "bearerAuth"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # what shared.body_limit reads (and may refuse: 413, 422)
ALWAYS = frozenset({503})

# Why each status happens, for the reader of the document (UI text: Simplified Chinese).
REASONS = {
    400: "请求头格式有误(If-Match、Idempotency-Key)",
    401: "缺少令牌,或令牌无效、已吊销",
    403: "当前角色或机构无权执行此操作",
    404: "对象不存在",
    409: "与当前状态冲突:已存在、状态不允许,或并发写入时版本已变(见 current_version)",
    412: "If-Match 版本与当前版本不一致(见 current_version)",
    413: "请求体超过大小限制",
    422: "输入校验失败(errors 列出字段与原因),含 min_seq 超出事件日志末尾",
    503: "依赖服务(数据库、事件日志)暂不可用,按 Retry-After 重试",
    504: "读模型在等待时间内未到达 min_seq,请稍后重试",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer 认证质询", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "建议的重试间隔(秒)", "schema": {"type": "string"}}},
}


def may_answer(*statuses: int, authenticates: bool = False, headers: Sequence[dict[str, Any]] = ()) -> Callable[[F], F]:
    """Declare on a dependency the problem statuses it may answer (and whether it reads the bearer token).

    `headers`: OpenAPI parameter objects of request headers the dependency reads itself (from the Request: FastAPI
    solving them as Header parameters cost a command ~25 us); every operation using it documents them."""

    def mark(call: F) -> F:
        call.__problem_statuses__ = frozenset(statuses)  # type: ignore[attr-defined]
        call.__authenticates__ = authenticates  # type: ignore[attr-defined]
        call.__documented_headers__ = tuple(headers)  # type: ignore[attr-defined]
        return call

    return mark


def documented_headers(dependant: Dependant) -> list[dict[str, Any]]:
    """The header parameters the dependencies of an operation read themselves (`may_answer(headers=...)`)."""
    found: dict[str, dict[str, Any]] = {}
    for call in _calls(dependant):
        for parameter in getattr(call, "__documented_headers__", ()):
            found.setdefault(parameter["name"].lower(), parameter)
    return list(found.values())


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _has_parameters(dependant: Dependant) -> bool:
    own = dependant.path_params or dependant.query_params or dependant.header_params or dependant.cookie_params
    read = getattr(dependant.call, "__documented_headers__", ())
    return bool(own or read or dependant.body_params or any(_has_parameters(sub) for sub in dependant.dependencies))


def statuses_of(dependant: Dependant, method: str) -> tuple[frozenset[int], bool]:
    """The problem statuses an operation can answer, and whether it requires authentication."""
    statuses = set(ALWAYS)
    authenticated = False
    for call in _calls(dependant):
        statuses |= getattr(call, "__problem_statuses__", frozenset())
        authenticated |= getattr(call, "__authenticates__", False)
    if dependant.path_params:
        statuses.add(404)
    if _has_parameters(dependant):
        statuses.add(422)
    if method in BODY_METHODS:
        statuses |= {413, 422}
    return frozenset(statuses), authenticated


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": REASONS.get(status) or TITLES.get(status, "错误"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _without_null(parameter: dict[str, Any]) -> None:
    """An optional query or header parameter is left out when absent: there is no null in a query string or a
    header (a client following `anyOf: [string, null]` would send the text "null"). Keep only the non-null form."""
    schema = parameter.get("schema", {})
    forms = schema.get("anyOf")
    if parameter.get("in") in ("query", "header") and isinstance(forms, list):
        present = [form for form in forms if form != {"type": "null"}]
        if len(present) == 1 and len(forms) == 2:
            del schema["anyOf"]
            schema.update(present[0])
        elif len(present) < len(forms):
            schema["anyOf"] = present


def document_operation(
    operation: dict[str, Any], statuses: frozenset[int], authenticated: bool, headers: Sequence[dict[str, Any]] = ()
) -> None:
    for parameter in operation.get("parameters", []):
        _without_null(parameter)
    if headers:
        listed = {(p.get("in"), str(p.get("name", "")).lower()) for p in operation.get("parameters", [])}
        extra = [copy.deepcopy(p) for p in headers if ("header", p["name"].lower()) not in listed]
        operation["parameters"] = [*operation.get("parameters", []), *extra]
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in statuses:
        declared = responses.get(str(status))
        if declared is None or _is_fastapi_validation_error(declared):  # a route's own declaration stands
            responses[str(status)] = _problem_response(status)
    operation["responses"] = dict(sorted(responses.items()))
    if authenticated:
        operation["security"] = [{SECURITY_SCHEME: []}]


def document_problems(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Add the problem answers of every operation of `app` to its generated OpenAPI `document`."""
    paths = document.get("paths", {})
    # As FastAPI itself walks them: a route of an included router appears under its effective (prefixed) path,
    # with the router's dependencies in its dependant.
    for route in iter_route_contexts(app.routes):
        dependant: Dependant | None = getattr(route, "dependant", None)
        if not isinstance(route.original_route, APIRoute) or dependant is None or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format or "", {}).get(method.lower())
            if operation is not None:
                document_operation(operation, *statuses_of(dependant, method), documented_headers(dependant))
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "机构令牌(由系统管理签发)",
    }
    _drop_unreferenced(components["schemas"], ("HTTPValidationError", "ValidationError"), document)
    return document


def _drop_unreferenced(schemas: dict[str, Any], names: tuple[str, ...], document: dict[str, Any]) -> None:
    """FastAPI's own error schemas, once nothing points to them any more (no operation answers them)."""
    for name in names:
        if name in schemas:
            rest = {k: v for k, v in schemas.items() if k != name}
            text = json.dumps({"paths": document.get("paths", {}), "schemas": rest})
            if f"#/components/schemas/{name}" not in text:
                del schemas[name]


def install_contract(app: FastAPI) -> None:
    """Generate the document lazily (routes are included after install_common) and post-process it once."""
    generate = app.openapi  # FastAPI's: cached, regenerated when the routes change
    documented: list[dict[str, Any]] = []  # the generated document last post-processed

    def openapi() -> dict[str, Any]:
        document = generate()
        if not documented or documented[0] is not document:
            documented[:] = [document_problems(app, document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
