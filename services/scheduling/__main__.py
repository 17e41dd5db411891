"""Run scheduling as its own process: `python -m services.scheduling`."""

from __future__ import annotations

import os

import uvicorn

from services.scheduling.bootstrap import SERVICE, create_app
from shared.settings import Settings
from shared.telemetry import log_config


def main() -> None:
    settings = Settings.from_env(SERVICE)
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("SERVICE_HOST", "127.0.0.1"),
        port=settings.service_port or 8000,
        log_config=log_config(SERVICE),
        access_log=False,
    )


if __name__ == "__main__":
    main()
