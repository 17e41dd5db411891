"""How a served app starts: what it built at start is frozen out of the collector's way, and the collector runs
with the thresholds for serving (shared/serve.py)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.collector import SERVING
from shared.serve import frozen_after_startup


async def test_objects_built_at_startup_are_frozen_and_the_serving_thresholds_set() -> None:
    built: list[object] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built.extend({"state": i} for i in range(1000))  # what a service's start builds and keeps
        yield

    thresholds = gc.get_threshold()
    try:
        gc.unfreeze()
        app = frozen_after_startup(FastAPI(lifespan=lifespan))
        async with app.router.lifespan_context(app):
            assert len(built) == 1000  # started: the wrapper ran the app's own lifespan first
            assert gc.get_freeze_count() >= len(built)
            assert gc.get_threshold() == SERVING
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
