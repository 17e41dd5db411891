"""Run one service as its own process: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import os
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.settings import Settings
from shared.telemetry import log_config


def serve(service: str, create_app: Callable[[Settings], FastAPI]) -> None:
    settings = Settings.from_env(service)
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("SERVICE_HOST", "127.0.0.1"),
        port=settings.service_port or 8000,
        log_config=log_config(service),
        access_log=False,
    )
