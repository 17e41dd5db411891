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

from shared.runtime import Runtime
from shared.settings import Settings
from tests.shared.counting import COUNTER, CountingReadModel


async def main() -> None:
    settings = Settings.from_env(COUNTER)
    runtime = await Runtime.start(COUNTER, settings, CountingReadModel(settings.replica_id))
    # Set before the projection task first runs (no await since start): its workers fetch this many at a time.
    runtime.runner.batch = int(os.environ.get("PROJECTION_BATCH", "50"))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    logging.getLogger("tiaodu.replica").info("replica %s running", settings.replica_id)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    asyncio.run(main())
