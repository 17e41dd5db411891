"""The bench's load client (tests/benchmarks/lean_http.py) against real sockets: it reads answers over keep-alive,
and a server that stops answering fails the request after the pool's timeout (an error of the round), never hangs
it, and its connection is dropped."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.benchmarks.lean_http import KeepAlivePool

ANSWER = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"ok":1}\n'


async def test_a_request_is_answered_over_keep_alive_and_an_unanswered_one_times_out() -> None:
    seen: list[bytes] = []
    hang = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"Content-Length")
            )
            seen.append(await reader.readexactly(length))
            if hang.is_set():
                await asyncio.sleep(3600)  # accepted, read, never answered
            writer.write(ANSWER)
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = KeepAlivePool(f"http://127.0.0.1:{port}", 1, {"Authorization": "Bearer t"}, timeout=0.3)
    try:
        for n in range(3):  # one connection, used in turn
            status, body = await pool.request("POST", "/v1/x", {"n": n})
            assert (status, body) == (201, b'{"ok":1}\n')
        assert seen == [b'{"n":0}', b'{"n":1}', b'{"n":2}'] and pool.opened == 1

        hang.set()
        started = time.monotonic()
        with pytest.raises(TimeoutError):  # an OSError: the load rounds count it as an error
            await pool.request("POST", "/v1/x", {"n": 3})
        assert time.monotonic() - started < 5
        assert pool.opened == 0 and not pool.idle, "the connection that timed out is still in the pool"
    finally:
        pool.close()
        server.close()
