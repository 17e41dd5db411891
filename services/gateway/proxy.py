"""The single base URL: routing by the upstreams' own OpenAPI documents, and their merged document.

Each upstream's `/openapi.json` is read at startup, every REFRESH_S seconds, and when a path matches nothing,
so a new route appears at the gateway without configuration. Whenever the table changes it is handed on
(`on_routes`): HAProxy does the forwarding (`haproxy_config.py`), the app around this is in `bootstrap.py`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("tiaodu.gateway")

TITLE = "Tiaodu 调度 API"
REFRESH_S = 10.0
LAZY_REFRESH_MIN_S = 1.0  # an unknown path refreshes at most this often, so 404s cannot flood upstreams
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_PARAM = re.compile(r"\{[^{}/]+\}")


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern[str]
    method: str
    upstream: str


def compile_template(template: str) -> re.Pattern[str]:
    """`/v1/projects/{project_id}/reports` → `^/v1/projects/[^/]+/reports$` (a parameter is one segment)."""
    pieces: list[str] = []
    last = 0
    for match in _PARAM.finditer(template):
        pieces += [re.escape(template[last : match.start()]), "[^/]+"]
        last = match.end()
    pieces.append(re.escape(template[last:]))
    return re.compile("^" + "".join(pieces) + "$")


def _specificity(template: str) -> tuple[int, ...]:
    # Literal segments sort before parameters, so /v1/projects/search wins over /v1/projects/{project_id}.
    return tuple(1 if _PARAM.fullmatch(seg) else 0 for seg in template.strip("/").split("/"))


def _segments(path: str) -> int:
    return path.count("/")


RoutesChanged = Callable[[list[Route]], Awaitable[None]]


class Gateway:
    """Routing table and merged document of the upstreams (base URLs); `on_routes` hears of every new table."""

    def __init__(
        self,
        upstreams: list[str],
        client: httpx.AsyncClient,
        on_routes: RoutesChanged | None = None,
        replicas: dict[str, list[str]] | None = None,
    ) -> None:
        self.client = client
        self.upstreams = upstreams
        # A service's replicas answer alike: its document and its readiness are asked of the first that answers.
        self.replicas = {u: (replicas or {}).get(u) or [u] for u in upstreams}
        self.on_routes = on_routes
        self.specs: dict[str, dict[str, Any]] = {}
        self.routes: list[Route] = []
        self._by_segments: dict[int, list[Route]] = {}  # a parameter is one segment: only equal counts can match
        self.merged: dict[str, Any] = merge_specs([])
        self._lock = asyncio.Lock()
        self._last_refresh = 0.0
        self._warned: set[str] = set()
        self._handed_on = False

    async def refresh(self) -> None:
        async with self._lock:
            results = await asyncio.gather(*(self._fetch_spec(u) for u in self.upstreams))
            for upstream, spec in zip(self.upstreams, results, strict=True):
                if spec is not None:  # an upstream that is briefly down keeps its last known routes
                    self.specs[upstream] = spec
            ordered = [(u, self.specs[u]) for u in self.upstreams if u in self.specs]
            previous = [(r.template, r.method, r.upstream) for r in self.routes]
            self.routes = build_routes(ordered)
            by_segments: dict[int, list[Route]] = {}
            for route in self.routes:  # keeps the specificity order within each count
                by_segments.setdefault(_segments(route.template), []).append(route)
            self._by_segments = by_segments
            self.merged = merge_specs(ordered, self._warned)
            self._last_refresh = time.monotonic()
            if self.on_routes is not None and (
                not self._handed_on or previous != [(r.template, r.method, r.upstream) for r in self.routes]
            ):
                await self.on_routes(self.routes)
                self._handed_on = True

    async def _fetch_spec(self, upstream: str) -> dict[str, Any] | None:
        for replica in self.replicas[upstream]:
            try:
                response = await self.client.get(f"{replica}/openapi.json", timeout=5.0)
                response.raise_for_status()
                spec = response.json()
                return spec if isinstance(spec, dict) else None
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("cannot read %s/openapi.json: %s", replica, exc)
        return None

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception:
                log.exception("routing table refresh failed")

    def match(self, method: str, path: str) -> str | None:
        method = method.lower()
        by_path = [r for r in self._by_segments.get(_segments(path), ()) if r.pattern.match(path)]
        for route in by_path:
            if route.method == method or (method == "head" and route.method == "get"):
                return route.upstream
        # Path known, method not: the owning upstream answers (405 with its own Allow header).
        return by_path[0].upstream if by_path else None

    async def resolve(self, method: str, path: str) -> str | None:
        """The upstream of a request that reached the control plane because no route matched it: the table is
        refreshed (at most every LAZY_REFRESH_MIN_S), so a route added since the last refresh is found now."""
        upstream = self.match(method, path)
        if upstream is None and time.monotonic() - self._last_refresh >= LAZY_REFRESH_MIN_S:
            await self.refresh()
            upstream = self.match(method, path)
        return upstream

    async def not_ready(self) -> list[str]:
        async def ready(upstream: str) -> bool:
            # A service is ready when one of its replicas is: HAProxy sends its requests to the ready ones.
            for replica in self.replicas[upstream]:
                try:
                    if (await self.client.get(f"{replica}/readyz", timeout=3.0)).status_code == 200:
                        return True
                except httpx.HTTPError:
                    continue
            return False

        answers = await asyncio.gather(*(ready(u) for u in self.upstreams))
        return [u for u, ok in zip(self.upstreams, answers, strict=True) if not ok]


def build_routes(specs: list[tuple[str, dict[str, Any]]]) -> list[Route]:
    routes: list[Route] = []
    seen: set[tuple[str, str]] = set()
    for upstream, spec in specs:
        for template, item in (spec.get("paths") or {}).items():
            for method in item or {}:
                key = (template, method.lower())
                if method.lower() in HTTP_METHODS and key not in seen:  # first upstream to declare it wins
                    seen.add(key)
                    routes.append(Route(template, compile_template(template), method.lower(), upstream))
    routes.sort(key=lambda r: _specificity(r.template))
    return routes


def merge_specs(specs: list[tuple[str, dict[str, Any]]], warned: set[str] | None = None) -> dict[str, Any]:
    warned = set() if warned is None else warned
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    for upstream, spec in specs:
        for template, item in (spec.get("paths") or {}).items():
            merged_item = paths.setdefault(template, {})
            for key, value in (item or {}).items():
                merged_item.setdefault(key, value)
        for section, entries in (spec.get("components") or {}).items():
            target = components.setdefault(section, {})
            for name, value in (entries or {}).items():
                if name not in target:
                    target[name] = value
                elif target[name] != value and f"{section}/{name}" not in warned:
                    warned.add(f"{section}/{name}")
                    log.warning(
                        "%s/%s from %s differs from an earlier upstream's; keeping the first",
                        section,
                        name,
                        upstream,
                    )
    version = next((s.get("openapi") for _, s in specs if s.get("openapi")), "3.1.0")
    document: dict[str, Any] = {"openapi": version, "info": {"title": TITLE, "version": "1"}, "paths": paths}
    if components:
        document["components"] = components
    return document
