"""Run the gateway as its own process: `python -m services.gateway` (TIAODU_GATEWAY_ROUTES, SERVICE_PORT)."""

from __future__ import annotations

import logging

from services.gateway.bootstrap import SERVICE, GatewaySettings, create_app
from shared.serve import run_app

if __name__ == "__main__":
    settings = GatewaySettings.from_env()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied request would drown the log
    run_app(SERVICE, create_app(settings), settings.service_port)
