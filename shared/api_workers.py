"""Several API processes behind one port, each accepting on its own socket (SO_REUSEPORT).

uvicorn's own supervisor binds one socket in the parent and lets every worker accept on it. The kernel then wakes
whichever worker is idle at the moment, and clients that connect together and keep their connections (every
department's client, the gateway's pool, a load test) end up mostly on one process: in the bench, one of two API
processes held all 32 keep-alive connections, the other idled, and the pair did worse than one process alone.
With a socket per process bound with SO_REUSEPORT, Linux deals each new connection to one of the sockets by a
hash of its addresses, so connections spread evenly however they arrive.

The supervisor here is deliberately small: it starts the processes (multiprocessing's spawn, as uvicorn's does),
starts another when one exits, and on SIGTERM or SIGINT passes SIGTERM on (each process drains as a single one does)
and waits for them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from shared.metrics import worker_exited
from shared.telemetry import log_config

log = logging.getLogger("tiaodu.serve")

STOP_TIMEOUT_S = 30.0  # a process draining longer than this (its consumers' grace is shorter) is killed
POLL_S = 0.5


def listening_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """A socket bound to host:port beside the other API processes' (SO_REUSEPORT unless `shared` is False)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    return sock


def run_api_process(service: str, app: str, host: str, port: int) -> None:
    """One API process (the target of a spawned child): its own socket, then uvicorn on it."""
    config = uvicorn.Config(app, factory=True, host=host, port=port, log_config=log_config(service), access_log=False)
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def supervise(service: str, app: str, host: str, port: int, count: int) -> None:
    """Run `count` API processes on host:port until SIGTERM or SIGINT; one that exits is replaced."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start() -> BaseProcess:
        process = context.Process(target=run_api_process, args=(service, app, host, port), name=f"{service}-api")
        process.start()
        return process

    # Bound once here first, without SO_REUSEPORT: a port anyone listens on (a process of an earlier run left behind
    # would otherwise silently share the connections) fails the start with the error, before any process is spawned.
    listening_socket(host, port, shared=False).close()
    processes = [start() for _ in range(count)]
    log.info("%s: %s API processes on %s:%s (SO_REUSEPORT), pids %s", service, count, host, port,
             [p.pid for p in processes])  # fmt: skip
    try:
        while not stopping:
            time.sleep(POLL_S)
            for i, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    log.warning("%s: API process %s exited with %s; starting another", service, process.pid,
                                process.exitcode)  # fmt: skip
                    if process.pid is not None:
                        worker_exited(process.pid)
                    processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
