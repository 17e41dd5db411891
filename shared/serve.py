"""Run one service as its own process: settings from the environment, JSON logs, uvicorn.

With TIAODU_WORKERS=N, N API processes serve one port, each on its own SO_REUSEPORT socket (shared.api_workers,
which restarts any that dies); each is a replica with its own connections, so optimistic concurrency keeps their
commands safe.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from shared.api_workers import supervise
from shared.collector import SERVING, tune_collector
from shared.metrics import MULTIPROC_ENV, prepare_multiprocess_dir, worker_exited
from shared.settings import Settings
from shared.telemetry import log_config

# How a worker process started by uvicorn finds the service it is: set by `serve` before the workers start.
FACTORY_ENV = "TIAODU_APP_FACTORY"
SERVICE_ENV = "TIAODU_SERVICE"


def serve(service: str, create_app: Callable[[Settings], FastAPI]) -> None:
    settings = Settings.from_env(service)
    if settings.process_role == "worker" and settings.worker_sched == "batch":
        batch_scheduling()
    if settings.process_role == "worker" and settings.worker_nice:
        os.nice(settings.worker_nice)
    if settings.api_workers == 1:
        if os.environ.get(MULTIPROC_ENV):  # the operator's folder: this run's files only (shared.metrics)
            prepare_multiprocess_dir(service)
        run_app(service, frozen_after_startup(create_app(settings)), settings.service_port)
        return
    os.environ[FACTORY_ENV] = f"{create_app.__module__}:{create_app.__qualname__}"
    os.environ[SERVICE_ENV] = service
    prepare_multiprocess_dir(service)  # one scrape of /metrics sums every worker's counters (shared.metrics)
    host, port = os.environ.get("SERVICE_HOST", "127.0.0.1"), settings.service_port or 8000
    supervise(service, "shared.serve:app_from_env", host, port, settings.api_workers)  # a socket each (ADR 0048)


def batch_scheduling() -> None:
    """A worker-only process (projections, reactions, timers) is throughput work: under Linux's SCHED_BATCH it keeps
    the same share of the CPU as any process at its nice level, but its wake-ups do not preempt a running API
    process, so a command waits less behind a projection's batch on a busy machine (TIAODU_WORKER_SCHED=normal
    keeps the default policy; elsewhere than Linux nothing changes)."""
    if hasattr(os, "SCHED_BATCH"):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def app_from_env() -> FastAPI:
    """The app of one of several API worker processes (uvicorn's factory)."""
    module, _, name = os.environ[FACTORY_ENV].partition(":")
    create_app: Callable[[Settings], FastAPI] = getattr(importlib.import_module(module), name)
    return marked_dead_on_exit(frozen_after_startup(create_app(Settings.from_env(os.environ[SERVICE_ENV]))))


def marked_dead_on_exit(app: FastAPI) -> FastAPI:
    """A worker that stops (the supervisor stopping or replacing it) takes its live gauges out of the sums.

    A SIGKILLed worker cannot, and the supervisor marks it when it replaces it. Its counters staying is right
    (they counted what happened); the platform keeps no multiprocess gauges (its gauges are read on scrape)."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi: Any) -> AsyncIterator[Any]:
        try:
            async with started(asgi) as state:
                yield state
        finally:
            worker_exited(os.getpid())

    app.router.lifespan_context = lifespan
    return app


def frozen_after_startup(app: FastAPI) -> FastAPI:
    """Once the app has started, move every object it holds into the collector's permanent generation and set the
    collector's thresholds for serving.

    What a service builds at start (modules, models, routes, schemas) lives as long as the process (~80,000
    objects); left in the collected generations, every full collection walks it again (pauses of up to 180 ms
    were measured in an API process under load)."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi: Any) -> AsyncIterator[Any]:
        async with started(asgi) as state:
            tune_collector(SERVING)
            yield state

    app.router.lifespan_context = lifespan
    return app


def run_app(service: str, app: FastAPI, port: int) -> None:
    """Serve `app` on SERVICE_HOST (default loopback) and `port` (default 8000) with the platform's JSON logs.

    uvicorn picks uvloop and httptools (both pinned dependencies) over asyncio's loop and h11.
    """
    uvicorn.run(
        app,
        host=os.environ.get("SERVICE_HOST", "127.0.0.1"),
        port=port or 8000,
        log_config=log_config(service),
        access_log=False,
    )
