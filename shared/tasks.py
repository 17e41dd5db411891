"""Stopping background tasks without hanging."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger("tiaodu.tasks")


async def cancel_and_wait(task: asyncio.Task[Any], timeout: float) -> None:
    """Cancel a task and wait for it, but never for ever: nats-py can swallow a cancellation inside a request,
    and a stop must not hang on that (whatever the task still does is fenced or harmless)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
        await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
    if not task.done():
        log.warning("task %s did not stop within %ss; abandoning it", task.get_name(), timeout)
