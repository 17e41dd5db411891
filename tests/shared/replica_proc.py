"""One replica of a counting projection in its own process, so a test can SIGKILL or SIGSTOP it for real.

    python -m tests.shared.replica_proc

Reads NATS_URL, DATABASE_URL, TIAODU_STREAM, TIAODU_SUBJECT_PREFIX, TIAODU_PARTITIONS and REPLICA_ID like a
service, plus TIAODU_LEASE_TTL_S and PROJECTION_BATCH; logs to stderr (the test points it at a file); runs until
killed, or until SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from shared.runtime import Runtime
from shared.settings import Settings
from tests.shared.counting import COUNTER, CountingReadModel


async def main() -> None:
    settings = Settings.from_env(COUNTER)
    runtime = await Runtime.start(COUNTER, settings, CountingReadModel(settings.replica_id))
    # Set before the projection task first runs (no await since start): its workers fetch this many at a time.
    runtime.runner.batch = int(os.environ.get("PROJECTION_BATCH", "50"))
    await run_until_sigterm(runtime, f"replica {settings.replica_id}")


async def run_until_sigterm(runtime: Runtime, what: str) -> None:
    """Serve until SIGTERM, then stop cleanly (a SIGKILL is the test's other way out)."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    logging.getLogger("tiaodu.replica").info("%s running", what)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


def run_process(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    asyncio.run(main())


if __name__ == "__main__":
    run_process(main)
