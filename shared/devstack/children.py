"""The processes `make run` starts (services, gateway, tools): readiness, failures with their log tail, stopping."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from shared.devstack.embedded import tail

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 30

T = TypeVar("T")


class StackError(RuntimeError):
    """The stack could not start, or a part of it died; the message carries the log tail."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def failure(self, what: str) -> StackError:
        return StackError(f"{self.name} {what}; last lines of {self.log}:\n{tail(self.log, LOG_TAIL_LINES)}")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also when the caller's thread has a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def ensure_database(server_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await conn.close()


def parse_tokens(stdout: str) -> dict[str, Any]:
    try:
        data = json.loads(stdout)
    except ValueError:  # tolerate chatter before the JSON object: take the last line that is one
        lines = [line for line in stdout.splitlines() if line.strip().startswith("{")]
        data = json.loads(lines[-1]) if lines else None
    if not isinstance(data, dict) or "hq" not in data:
        raise StackError(f"bootstrap-demo printed no token object:\n{stdout[-2000:]}")
    return data


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(child: Child, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise child.failure(f"exited with {child.proc.returncode} before it was ready")
            try:
                if client.get(f"{child.url}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise child.failure(f"was not ready at {child.url}/readyz within {timeout:.0f}s")
