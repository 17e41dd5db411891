"""Every request an auditor makes is recorded as an event before its answer leaves (docs/adr/0033).

An audit trail that can be skipped is not one: the record is appended when the app starts its answer (the status is
known then, the body not yet sent), and if it cannot be appended the auditor gets 503 instead of the answer. A
request by anyone else costs one role check.

Records go on one aggregate per auditor organisation, business day and service (`<service>_access` /
`<org_id>_<yyyymmdd>`, shared/catalogue/access.py). Concurrent reads of one auditor take turns in a process (a lock
per aggregate) and, across replicas, meet optimistic concurrency: a conflict reads the aggregate's last event and
appends again, so no record is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal
from shared.catalogue.access import AuditorAccessRecorded, QueryParameter
from shared.catalogue.ownership import access_aggregate
from shared.clock import CHINA
from shared.envelope import Role, parse_envelope
from shared.eventstore import ConcurrencyConflict, Context, EventStore, Position, StoredEvent
from shared.problems import Problem, problem_response
from shared.telemetry import current_trace_context

log = logging.getLogger("tiaodu.access")

APPEND_ATTEMPTS = 20  # conflicts with other replicas appending for the same auditor; each one moves the log on
# Query parameters whose value is never recorded (the name is: what was asked stays visible).
SECRET_NAME = re.compile(r"(^|[_-])(token|access_token|password|passwd|secret|api_key|apikey|signature|credential)s?$",
                         re.IGNORECASE)  # fmt: skip
WITHHELD = "[已隐去]"
MAX_PARAMETERS = 100
MAX_VALUE = 1_000  # characters of one value; a longer one is cut and marked, so an event stays small


class AccessNotRecorded(Exception):
    """The access log could not be appended to: the read must not be served."""


def aggregate_id(org_id: str, at: datetime) -> str:
    return f"{org_id}_{at.astimezone(CHINA):%Y%m%d}"


def _bounded(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + "…[截断]"


def query_parameters(query_string: bytes) -> list[QueryParameter]:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return [
        QueryParameter(name=_bounded(name), value=WITHHELD if SECRET_NAME.search(name) else _bounded(value))
        for name, value in pairs[:MAX_PARAMETERS]
    ]


@dataclass(frozen=True)
class Access:
    """What an auditor asked for, as the ASGI scope says it."""

    method: str
    path: str
    route: str | None
    path_params: dict[str, str]
    query: list[QueryParameter]
    correlation_id: str

    @classmethod
    def of(cls, scope: Scope) -> Access:
        headers = dict(scope.get("headers") or [])
        correlation = headers.get(b"x-correlation-id", b"").decode("latin-1") or str(uuid.uuid4())
        return cls(
            method=scope["method"],
            path=scope["path"],
            route=route_template(scope),
            path_params={k: _bounded(str(v)) for k, v in (scope.get("path_params") or {}).items()},
            query=query_parameters(scope.get("query_string", b"")),
            correlation_id=correlation,
        )


def route_template(scope: Scope) -> str | None:
    """The matched route's template with every prefix (`/v1/issues/{issue_id}`). FastAPI 0.16x keeps an included
    router's own, unprefixed path on `scope["route"]`; its effective route context carries the whole template."""
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(effective, "path_format", None) or getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else None


class AccessRecorder:
    """Appends AuditorAccessRecorded for one service; remembers each aggregate's position so that an append needs no
    read first (after a restart, or when another replica appended, a conflict tells, and one direct get catches up)."""

    def __init__(self, store: EventStore, service: str) -> None:
        self.store = store
        self.service = service
        self.aggregate_type = access_aggregate(service)
        self._positions: dict[str, Position] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.conflicts = 0

    async def record(self, principal: Principal, access: Access, status: int) -> StoredEvent:
        now = self.store.clock.now()
        agg = aggregate_id(principal.org_id, now)
        payload = AuditorAccessRecorded(
            org_id=principal.org_id, user=principal.credential_id, day=now.astimezone(CHINA).date(),
            accessed_at=now, service=self.service, method=access.method, path=access.path, route=access.route,
            path_params=access.path_params, query=access.query, status=status,
        )  # fmt: skip
        context = Context(actor=principal.actor(), correlation_id=access.correlation_id,
                          trace_context=current_trace_context())  # fmt: skip
        if len(self._locks) > 10_000:  # yesterday's aggregates are never written again
            self._forget(keep=agg)
        async with self._locks.setdefault(agg, asyncio.Lock()):
            position = self._positions.get(agg, Position())
            for _ in range(APPEND_ATTEMPTS):
                try:
                    stored = await self.store.append(
                        self.aggregate_type, agg, payload, expected=position, context=context, occurred_at=now
                    )
                except ConcurrencyConflict:
                    self.conflicts += 1
                    position = await self._last_position(agg)
                    continue
                self._positions[agg] = position.after(stored)
                return stored
        raise AccessNotRecorded(f"{self.aggregate_type}/{agg}: {APPEND_ATTEMPTS} conflicts in a row")

    async def _last_position(self, agg: str) -> Position:
        """The aggregate's last event, by one direct get on its stored subject (whatever its partition)."""
        js = self.store.js
        subject = self.store.stored_filter(self.aggregate_type, agg)
        request = json.dumps({"last_by_subj": subject}).encode()
        msg = await js._nc.request(f"$JS.API.DIRECT.GET.{self.store.stream}", request, timeout=5)
        headers = msg.headers or {}
        if "Nats-Sequence" not in headers:  # 404: nothing there yet (the conflict was with an empty aggregate?)
            return Position()
        envelope = parse_envelope(msg.data)
        return Position(envelope.version, int(headers["Nats-Sequence"]), envelope.hash)

    def _forget(self, keep: str) -> None:
        for agg in [a for a, lock in self._locks.items() if a != keep and not lock.locked()]:
            del self._locks[agg]
            self._positions.pop(agg, None)


def _principal(scope: Scope) -> Principal | None:
    principal: Principal | None = (scope.get("state") or {}).get("principal")
    return principal


class RecordAuditorAccess:
    """ASGI middleware, inside authentication: an auditor's answer is held at its start until its record is in the
    log; 503 problem+json instead when the record cannot be written. Everyone else passes after one role check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        known = _principal(scope)
        if known is not None and known.role != Role.AUDITOR:
            await self.app(scope, receive, send)
            return
        # An auditor, or someone the app itself authenticates (AuthenticateFirst deferred it): decided at the start.
        started = False
        refused = False

        async def recorded_send(message: Message) -> None:
            nonlocal started, refused
            if message["type"] == "http.response.start":
                started = True
                principal = _principal(scope)
                if principal is not None and principal.role == Role.AUDITOR:
                    try:
                        await recorder_of(scope).record(principal, Access.of(scope), message["status"])
                    except Exception as exc:
                        log.error("auditor access on %s not recorded, answer withheld: %s: %s", scope["path"],
                                  type(exc).__name__, exc)  # fmt: skip
                        refused = True
                        await _unavailable(scope, receive, send)
                        return
            elif refused:
                return  # the body of the answer that was withheld
            await send(message)

        try:
            await self.app(scope, receive, recorded_send)
        except Exception:
            principal = _principal(scope)
            if not started and principal is not None and principal.role == Role.AUDITOR:
                try:  # the app failed before answering (500 from the outer handler): the attempt is recorded still
                    await recorder_of(scope).record(principal, Access.of(scope), 500)
                except Exception as exc:
                    log.error("auditor access on %s (failed with 500) not recorded: %s", scope["path"], exc)
            raise


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    problem = Problem(503, "访问记录暂时无法写入审计日志,本次读取未予提供,请稍后重试", headers={"Retry-After": "1"})
    await problem_response(problem, scope["path"])(scope, receive, send)


def recorder_of(scope: Scope) -> AccessRecorder:
    """The app's recorder, made on first use from its runtime (the store and the service's name)."""
    state: Any = scope["app"].state
    recorder: AccessRecorder | None = getattr(state, "access_recorder", None)
    if recorder is None:
        runtime = state.runtime
        recorder = state.access_recorder = AccessRecorder(runtime.store, runtime.service)
    return recorder


def access_records(events: Iterable[StoredEvent]) -> list[AuditorAccessRecorded]:
    """The access records among `events` (tests and tools reading the log)."""
    return [
        AuditorAccessRecorded.model_validate(e.envelope.payload)
        for e in events
        if e.envelope.type == "AuditorAccessRecorded"
    ]
