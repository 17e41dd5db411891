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
    run_app(service, create_app(settings), settings.service_port)


def run_app(service: str, app: FastAPI, port: int) -> None:
    """Serve `app` on SERVICE_HOST (default loopback) and `port` (default 8000) with the platform's JSON logs."""
    uvicorn.run(
        app,
        host=os.environ.get("SERVICE_HOST", "127.0.0.1"),
        port=port or 8000,
        log_config=log_config(service),
        access_log=False,
    )
