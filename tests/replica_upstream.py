"""A replica of an upstream service as its own process, for the gateway's tests (tests/test_gateway_replicas.py).

`python -m tests.replica_upstream <port> <replica-id> <arrivals-file>`: every request that reaches a handler is
appended to the arrivals file (`<replica> <method> <path> <idempotency-key>`, one line, flushed before the handler
waits), so a test counts which replica received what, including requests whose replica was killed holding them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request


def replica_app(replica: str, arrivals: Path) -> FastAPI:
    app = FastAPI()

    def arrived(request: Request) -> None:
        key = request.headers.get("idempotency-key", "-")
        with arrivals.open("a", encoding="utf-8") as fh:  # O_APPEND: whole lines from concurrent replicas
            fh.write(f"{replica} {request.method} {request.url.path} {key}\n")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/v1/whoami")
    async def whoami(request: Request, hold_ms: int = 0) -> dict[str, str]:
        arrived(request)
        await asyncio.sleep(hold_ms / 1000)  # a request held long enough for its replica to be killed under it
        return {"replica": replica}

    @app.post("/v1/commands")
    async def command(request: Request, hold_ms: int = 0) -> dict[str, str]:
        arrived(request)
        await asyncio.sleep(hold_ms / 1000)
        return {"replica": replica}

    return app


if __name__ == "__main__":
    port, replica, arrivals = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    uvicorn.run(replica_app(replica, arrivals), host="127.0.0.1", port=port, log_level="warning")
