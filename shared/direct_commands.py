"""Direct command routes: the commands issued most, answered without FastAPI's per-request machinery (docs/adr/0049).

A weekly progress report arrives up to ~1,000 times a second. FastAPI's routing through every included router, its
dependency solving, its exception and exit-stack layers and its response handling cost about a quarter of the API
process's CPU per such command (measured with `make bench`: 0.73 against 0.53 ms per command). A `DirectCommand`
takes the request from the ASGI scope straight to the same handler the FastAPI route calls, with the same pieces:
the principal AuthenticateFirst established, `context_of`, the If-Match and Idempotency-Key checks, the body model,
`problem_of` for whatever the handler raises.

The FastAPI route stays and is the contract: the OpenAPI document describes it, and it answers every request the
direct route does not take as certainly its own: a body that is not JSON or does not validate, another content type
(none, `application/*+json`),
a principal AuthenticateFirst could not establish. So every validation error is the one the document lists, from the
code that documents it; the direct route only ever answers what the FastAPI route would have answered the same way
(tests/shared/test_direct_commands.py compares the two, request by request).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.body_limit import replay
from shared.commands import CommandMeta
from shared.problems import problem_of, problem_response
from shared.responses import CommandAnswer
from shared.runtime import Runtime
from shared.web import check_idempotency_key, context_of, parse_if_match

# (runtime, path parameters, the validated body, meta) -> the answer; the FastAPI route calls the same function.
Run = Callable[[Runtime, Mapping[str, str], Any, CommandMeta], Awaitable[CommandAnswer]]


@dataclass(frozen=True)
class DirectCommand:
    method: str
    path: str  # the FastAPI route's template, prefix included: "/v1/projects/{project_id}/progress-reports"
    body: type[BaseModel]
    run: Run

    def pattern(self) -> re.Pattern[str]:
        # As Starlette matches a `{name}` parameter: one path segment.
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


def fastapi_route(app: FastAPI, command: DirectCommand) -> APIRoute:
    """The FastAPI route a direct command stands in for; a direct command without one is a programming error."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path_format != command.path:
            continue
        if command.method in (route.methods or ()):
            return route
    raise RuntimeError(f"direct command {command.method} {command.path}: no FastAPI route declares it")


def is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False  # FastAPI answers those itself: 422 without a content type, a `+json` type read as JSON


class DirectCommands:
    """ASGI middleware, innermost (the principal, the request's span and an auditor's access record are the outer
    ones' work, as for every request)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI, commands: Sequence[DirectCommand]) -> None:
        self.app = app
        self.routes: dict[str, list[tuple[re.Pattern[str], DirectCommand, APIRoute]]] = {}
        for command in commands:
            route = fastapi_route(fastapi, command)
            self.routes.setdefault(command.method, []).append((command.pattern(), command, route))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for pattern, command, route in self.routes.get(scope["method"], ()):
                matched = pattern.match(scope["path"])
                if matched is not None:
                    body, receive = await read_body(receive)
                    path = matched.groupdict()
                    if body is not None and await self.answer(scope, receive, send, body, path, command, route):
                        return
                    break
        await self.app(scope, receive, send)

    async def answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        path: dict[str, str],
        command: DirectCommand,
        route: APIRoute,
    ) -> bool:
        """Answer the request as its FastAPI route would, or leave it to that route (False)."""
        principal = scope.get("state", {}).get("principal")
        if principal is None or not is_json(scope):
            return False
        try:
            model = command.body.model_validate(json.loads(body))  # what FastAPI does with a JSON body
        except (ValueError, ValidationError):  # json.JSONDecodeError is a ValueError
            return False  # answered 422 as the document says, by FastAPI
        # What routing would have put in the scope: the metrics' and the access log's route label.
        scope["route"], scope["path_params"] = route, path
        try:
            request = Request(scope)
            meta = CommandMeta(
                principal=principal,
                context=context_of(request, principal),
                if_match=parse_if_match(request.headers.get("if-match")),
                idempotency_key=check_idempotency_key(request.headers.get("idempotency-key")),
            )
            answer = await command.run(scope["app"].state.runtime, path, model, meta)
        except Exception as exc:
            problem = problem_of(exc, scope["method"], scope["path"])
            await problem_response(problem, scope["path"])(scope, receive, send)
            return True
        await answer.response()(scope, receive, send)
        return True


async def read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole body (None if the client went away before sending it all), and a `receive` that gives the request
    to the app as it came (when the direct route leaves the request to it)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # a disconnect: the app meets it as it would have
            return None, replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            body = b"".join(chunks)
            return body, replay([{"type": "http.request", "body": body, "more_body": False}], receive)
