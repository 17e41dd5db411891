"""Run the gateway as its own process: `python -m services.gateway` (TIAODU_GATEWAY_ROUTES, SERVICE_PORT,
TIAODU_GATEWAY_METRICS_PORT).

HAProxy starts first, as a child that dies with this process, and serves SERVICE_HOST:SERVICE_PORT (all of it
by the control plane until the first routing table is loaded); the control plane (uvicorn) listens on a unix
socket only HAProxy and this user can open.
"""

from __future__ import annotations

import logging

import uvicorn

from services.gateway.bootstrap import SERVICE, GatewaySettings, create_app
from services.gateway.haproxy import HAProxy
from shared.telemetry import log_config

if __name__ == "__main__":
    settings = GatewaySettings.from_env()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per routing table refresh would drown the log
    haproxy = HAProxy.start(settings.listen, settings.metrics_listen)  # before any thread exists: see HAProxy.start
    try:
        app = create_app(settings, haproxy)
        uvicorn.run(app, uds=haproxy.control_socket, log_config=log_config(SERVICE), access_log=False)
    finally:
        haproxy.stop()
