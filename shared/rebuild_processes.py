"""A rebuild spread over several OS processes into one scratch schema: how an operator runs it.

`python -m services.<service>.cli rebuild --schema <scratch> [--processes N] [--compare <live schema>]
[--swap <live schema>]` (each service's CLI passes its read model's factory; shared imports no service). The
parent drops and creates the schema once and fixes the end of the replay (the log's last sequence now, or
`--until-seq`); each child process folds its share of the partitions (`shared.rebuild.rebuild`, `fresh=False`)
with its own NATS and PostgreSQL connections, so the Python work (parsing, checking, folding) of different
partitions runs on different cores. Partitions are independent (docs/adr/0002): every chain, checkpoint row and
read-model row belongs to one partition's events. `--swap` then puts the rebuilt tables in place of the live
ones while the service serves (shared/rebuild_swap.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import uvloop

from shared.collector import BATCH, tune_collector
from shared.db import create_pool
from shared.eventstore import EventStore
from shared.projection import ReadModel
from shared.rebuild import RebuildResult, check_whole, diff_schemas, finish, prepare, rebuild
from shared.rebuild_diff import diff_rows
from shared.rebuild_swap import swap_in
from shared.runtime import connect_nats
from shared.settings import Settings

ReadModelFactory = Callable[[], ReadModel]  # a module-level function: pickled by reference into each child


@dataclass(frozen=True)
class RebuildJob:
    settings: Settings
    service: str  # names the consumers (`<service>-rebuild-p<n>`) the service's NATS user may create
    read_model: ReadModelFactory
    schema: str
    until_seq: int
    verify_hashes: bool = False


def shares(partitions: int, processes: int) -> list[list[int]]:
    """Partitions dealt round-robin to at most `partitions` processes: 4 over 2 are [0, 2] and [1, 3]."""
    count = max(1, min(processes, partitions))
    return [list(range(first, partitions, count)) for first in range(count)]


async def _fold(job: RebuildJob, partitions: Sequence[int]) -> RebuildResult:
    s = job.settings
    nc = await connect_nats(s, f"{job.service}-rebuild-{os.getpid()}")
    pool = await create_pool(s.database_url, max_size=len(partitions) + 1)
    try:
        store = EventStore(nc.jetstream(), stream=s.stream, prefix=s.subject_prefix, partitions=s.partitions)
        return await rebuild(pool, store, job.read_model(), job.schema, until_seq=job.until_seq,
                             verify_hashes=job.verify_hashes, service=job.service, partitions=partitions,
                             fresh=False)  # fmt: skip
    finally:
        await pool.close()
        await nc.close()


def _child(job: RebuildJob, partitions: list[int]) -> RebuildResult:
    tune_collector(BATCH)
    return uvloop.run(_fold(job, partitions))


async def rebuild_in_processes(
    settings: Settings,
    service: str,
    read_model: ReadModelFactory,
    schema: str,
    *,
    processes: int,
    until_seq: int | None = None,
    verify_hashes: bool = False,
    children: ProcessPoolExecutor | None = None,
) -> RebuildResult:
    """Rebuild `schema` from sequence 1 with `processes` processes (1: in this one); returns the totals. The
    processes are `children` when given (`forked_children`), else spawned for the rebuild."""
    nc = await connect_nats(settings, f"{service}-rebuild")
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        store = EventStore(nc.jetstream(), stream=settings.stream, prefix=settings.subject_prefix,
                           partitions=settings.partitions)  # fmt: skip
        s = await prepare(pool, read_model(), schema, settings.partitions)
        end = until_seq if until_seq is not None else await store.last_seq()
        job = RebuildJob(settings, service, read_model, s, end, verify_hashes)
        total = await _fold_everywhere(job, processes, children)
        await finish(pool, s)
        await check_whole(store, total)
        return total
    finally:
        await pool.close()
        await nc.close()


def forked_children(settings: Settings, processes: int) -> ProcessPoolExecutor | None:
    """The folding processes of a rebuild with `processes`, forked now (None: it folds in this process, or this
    process already runs a thread and the rebuild spawns its processes instead).

    A spawned child imports the service's read model again before it folds: about a second of CPU per child on the
    bench's two cores, 2-3% of a rebuild of a million events. A forked child starts with everything this process
    imported. Only a process that holds no event loop, socket or thread yet may fork safely: the rebuild command's,
    before it starts its loop (`run_rebuild_command`); a rebuild begun inside a running loop spawns its children."""
    count = len(shares(settings.partitions, processes))
    if count == 1 or threading.active_count() > 1:  # a thread could hold a lock the child would copy: spawn then
        return None
    children = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork"))
    children.submit(os.getpid).result()  # a fork context starts every process at the first task, here and now
    return children


async def _fold_everywhere(job: RebuildJob, processes: int, forked: ProcessPoolExecutor | None) -> RebuildResult:
    settings = job.settings
    work = shares(settings.partitions, processes)
    if len(work) == 1:
        done = [await _fold(job, work[0])]
    else:
        loop = asyncio.get_running_loop()
        children = forked or ProcessPoolExecutor(len(work), mp_context=multiprocessing.get_context("spawn"))
        try:
            # Every child runs to its end (a failure leaves the others' partitions whole); the first error is raised.
            outcomes = await asyncio.gather(
                *(loop.run_in_executor(children, _child, job, share) for share in work), return_exceptions=True
            )
        finally:
            if forked is None:
                children.shutdown()
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise errors[0]
        done = [o for o in outcomes if isinstance(o, RebuildResult)]
    total = RebuildResult(job.schema, job.until_seq, 0, 0, processes=len(work))
    for result in done:
        total.add(result)
    return total


def add_rebuild_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rebuild = commands.add_parser("rebuild", help="rebuild the read model from sequence 1 into a scratch schema")
    rebuild.add_argument("--schema", required=True, help="the scratch schema (dropped and created afresh)")
    rebuild.add_argument(
        "--processes",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="OS processes folding partitions side by side",
    )
    rebuild.add_argument("--until-seq", type=int, default=None, help="the last sequence replayed (default: now)")
    rebuild.add_argument("--verify-hashes", action="store_true", help="recompute every event's hash (an audit)")
    rebuild.add_argument("--compare", metavar="SCHEMA", help="then name the rows that differ from this schema")
    rebuild.add_argument(
        "--swap",
        metavar="SCHEMA",
        help="then swap the rebuilt tables into this live schema, serving throughout (shared/rebuild_swap.py)",
    )


def run_rebuild_command(
    args: argparse.Namespace, settings: Settings, service: str, read_model: ReadModelFactory
) -> str:
    """The `rebuild` command: the result as one line of JSON (with the seconds it took and what differs)."""
    if args.processes < 1:
        raise SystemExit("--processes must be at least 1")
    started = time.perf_counter()
    tune_collector(BATCH)  # the folding of `--processes 1` happens in this process; children inherit it forked
    children = forked_children(settings, args.processes)

    async def run() -> dict[str, object]:
        result = await rebuild_in_processes(settings, service, read_model, args.schema, processes=args.processes,
                                            until_seq=args.until_seq, verify_hashes=args.verify_hashes,
                                            children=children)  # fmt: skip
        seconds = time.perf_counter() - started
        answer: dict[str, object] = {**asdict(result), "seconds": round(seconds, 3)}
        if args.compare or args.swap:
            pool = await create_pool(settings.database_url, max_size=1)
            try:
                if args.compare:
                    answer["differences"] = await diff_schemas(pool, read_model(), args.compare, result.schema)
                    named = await diff_rows(pool, read_model(), args.compare, result.schema)
                    answer["rows"] = [table.as_dict() for table in named]  # which rows, by key and column
                if args.swap:
                    answer["swapped"] = await swap_in(pool, args.swap, result.schema)
            finally:
                await pool.close()
        return answer

    try:
        return json.dumps(uvloop.run(run()), ensure_ascii=False)
    finally:
        if children is not None:
            children.shutdown()
