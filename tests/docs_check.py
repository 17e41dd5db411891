"""What `/docs` must be on an intranet: Swagger UI's files come from the platform itself, never from a public CDN
(shared/docs.py). Used by a service's test and by the real gateway process's test (HAProxy passes /docs/assets to the
gateway's control plane)."""

from __future__ import annotations

import re

import httpx


async def assert_docs_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/docs/assets/") for url in assets), assets  # nothing from elsewhere
    for url in assets:
        r = await client.get(url)
        assert r.status_code == 200 and len(r.content) > 0, url
    js = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
