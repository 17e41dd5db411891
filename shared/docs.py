"""`/docs` served with Swagger UI's own files from the platform, never from a public CDN.

FastAPI's default page loads Swagger UI from a CDN: on a government intranet it stays blank. The files come from the
pinned `fastapi-offline` package (Swagger UI 5, which renders OpenAPI 3.1) and are served under /docs/assets by each
service and by the gateway, whose control plane answers every path no service declares, /docs/assets included.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
ASSETS = files("fastapi_offline") / "static"


def mount_docs(app: FastAPI, *, openapi_url: str, title: str) -> None:
    """GET /docs (Swagger UI for `openapi_url`) and its files under /docs/assets; the app is made with
    `docs_url=None, redoc_url=None` so FastAPI's CDN page is not there too."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )
