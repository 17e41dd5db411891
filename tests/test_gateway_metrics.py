"""The gateway's metrics: HAProxy's own Prometheus exporter on TIAODU_GATEWAY_METRICS_PORT, scraped from a real
`python -m services.gateway` in front of real uvicorn upstreams; never on the public port."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.haproxy_config import GATEWAY_METRICS
from shared.devstack.embedded import free_port
from tests.gateway_upstreams import Upstream
from tests.platform import wait_until
from tests.test_gateway_process import gateway_process

REQUESTS = 7
FRONT_REQUESTS = "haproxy_frontend_http_requests_total"


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


async def test_haproxy_exports_its_metrics_on_the_gateway_metrics_port_only(
    upstreams: tuple[Upstream, Upstream], tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = {"TIAODU_GATEWAY_METRICS_PORT": str(metrics_port)}
    async with gateway_process([u.url for u in upstreams], tmp_path, env) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as public:

            async def routed() -> bool:  # the first routing table is loaded: requests reach the upstream
                return (await public.get("/v1/projects/p-1")).status_code == 200

            await wait_until(routed, 30, "the gateway routing to the projects upstream")
            for _ in range(REQUESTS):
                assert (await public.get("/v1/projects/p-1")).status_code == 200
            # The public port has no /metrics: the control plane answers that no service provides it.
            r = await public.get("/metrics")
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
            assert "haproxy_" not in r.text

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}", timeout=10) as scraper:
            scraped: list[tuple[str, dict[str, str], float]] = []

            async def counted() -> bool:
                nonlocal scraped
                r = await scraper.get("/metrics")
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
                scraped = samples(r.text)
                front = [v for n, labels, v in scraped if n == FRONT_REQUESTS and labels.get("proxy") == "gateway"]
                return bool(front) and front[0] >= REQUESTS + 2

            await wait_until(counted, 30, "the exporter counting the requests of the public front")
            names = {name for name, _, _ in scraped}
            assert set(GATEWAY_METRICS) <= names, sorted(set(GATEWAY_METRICS) - names)
            # Each service's backend reports its healthy servers: the upstream behind this one is up.
            active = {labels["proxy"]: v for n, labels, v in scraped if n == "haproxy_backend_active_servers"}
            assert active.get("upstream_0") == 1, active
            assert (await scraper.get("/stats")).status_code == 404  # the exporter only, no stats page
