"""Baselines on the bare NATS server, each in its own process as a client would be.

`python -m tests.benchmarks.raw_nats '<job>'`:
- {"mode": "publish", "nats_url", "user", "password", "tasks", "subjects", "seconds", "size"}: raw JetStream
  publishes with the expected-last-subject-sequence header from `tasks` concurrent tasks, each owning its subjects,
  into a stream of their own (BENCHRAW, file storage like the event stream, so the platform's consumers never see
  these messages). Prints {"count", "errors", "per_s"}.
- {"mode": "replay", "nats_url", "user", "password", "stream", "subjects"}: an ordered consumer over the whole
  stream, only counting messages up to the last sequence at the start. Prints {"count", "seconds", "per_s"}.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import api as js_api
from nats.js.errors import APIError

from tests.benchmarks.processes import job_argument

RAW_STREAM = "BENCHRAW"


async def publish(job: dict[str, Any]) -> dict[str, Any]:
    nc = await nats.connect(job["nats_url"], user=job["user"], password=job["password"], name="bench-raw-publish")
    js = nc.jetstream()
    await js.add_stream(
        js_api.StreamConfig(name=RAW_STREAM, subjects=["benchraw.>"], storage=js_api.StorageType.FILE,
                            duplicate_window=120.0, allow_direct=True)
    )  # fmt: skip
    body = b"x" * job["size"]
    count = errors = 0
    tasks = job["tasks"]
    subjects = [f"benchraw.ev.project.p{i:04d}" for i in range(job["subjects"])]
    deadline = time.perf_counter() + job["seconds"]

    async def task(mine: list[str]) -> None:
        nonlocal count, errors
        last = dict.fromkeys(mine, 0)
        n = 0
        while time.perf_counter() < deadline:
            subject = mine[n % len(mine)]
            n += 1
            headers: dict[str, Any] = {js_api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last[subject])}
            try:
                ack = await js.publish(subject, body, stream=RAW_STREAM, headers=headers)
            except APIError:
                errors += 1
                continue
            last[subject] = ack.seq
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(task(subjects[i::tasks]) for i in range(tasks)))
    elapsed = time.perf_counter() - start
    await js.delete_stream(RAW_STREAM)
    await nc.close()
    return {"count": count, "errors": errors, "per_s": count / elapsed}


async def replay(job: dict[str, Any]) -> dict[str, Any]:
    nc = await nats.connect(job["nats_url"], user=job["user"], password=job["password"], name="bench-raw-replay")
    js = nc.jetstream()
    last = (await js.stream_info(job["stream"])).state.last_seq
    done = asyncio.get_running_loop().create_future()
    count = highest = 0

    async def counted(msg: Msg) -> None:
        # An ordered consumer that resets redelivers from where it was: each stream sequence is counted once.
        nonlocal count, highest
        seq = msg.metadata.sequence.stream
        if seq <= highest or seq > last:
            return
        count, highest = count + 1, seq
        if seq >= last and not done.done():
            done.set_result(None)

    start = time.perf_counter()
    sub = await js.subscribe(
        job["subjects"], stream=job["stream"], cb=counted, ordered_consumer=True,
        pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30,
    )  # fmt: skip
    await asyncio.wait_for(done, timeout=600)
    elapsed = time.perf_counter() - start
    await sub.unsubscribe()
    await nc.close()
    return {"count": count, "seconds": elapsed, "per_s": count / elapsed, "last_seq": last}


if __name__ == "__main__":
    job = job_argument()
    print(json.dumps(asyncio.run(publish(job) if job["mode"] == "publish" else replay(job))))
