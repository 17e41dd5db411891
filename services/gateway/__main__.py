"""Run the gateway as its own process: `python -m services.gateway` (TIAODU_GATEWAY_ROUTES, SERVICE_PORT).

Caddy starts first, as a child that dies with this process, and serves SERVICE_HOST:SERVICE_PORT once the first
routing table is loaded; the control plane (uvicorn) listens on a unix socket only Caddy and this user can open.
"""

from __future__ import annotations

import logging

import uvicorn

from services.gateway.bootstrap import SERVICE, GatewaySettings, create_app
from services.gateway.caddy import Caddy
from shared.telemetry import log_config

if __name__ == "__main__":
    settings = GatewaySettings.from_env()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per routing table refresh would drown the log
    caddy = Caddy.start()  # before any thread exists: see Caddy.start
    try:
        app = create_app(settings, caddy)
        uvicorn.run(app, uds=caddy.control_socket, log_config=log_config(SERVICE), access_log=False)
    finally:
        caddy.stop()
