"""HAProxy as a child process of the gateway: found, started in master-worker mode, reloaded, stopped.

HAProxy (the distribution's package) forwards every request an upstream declares; a Python hop cost ~1.3 ms of
CPU per request, Caddy 0.3 ms, HAProxy 0.06 ms (docs/adr/0010, 0013). Its master process is the gateway's child
and never outlives it: it is started from the main thread with PR_SET_PDEATHSIG, so the kernel kills it when the
gateway dies, also by SIGKILL (its worker exits when the master is gone), and `stop` ends it on an orderly
shutdown. A new routing table is a new configuration file and a graceful reload (SIGUSR2 to the master): the new
worker takes over the listening socket, the old one finishes what it is forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from services.gateway.haproxy_config import HOP_BY_HOP_LUA, render_config

log = logging.getLogger("tiaodu.gateway")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
FOLDER_PREFIX = "tiaodu-gateway-"
PID_FILE = "gateway.pid"
# Where Debian puts it: /usr/sbin is not on an unprivileged user's PATH there.
SBIN = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
MIN_VERSION = (2, 4)  # http-error with lf-string, http-after-response, master CLI `show proc` as parsed below
INSTALL_HINT = "install HAProxy >= 2.4 (Debian/Ubuntu: apt-get install haproxy; `make run` does it as root)"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
LOAD_TIMEOUT_S = 10.0
POLL_S = 0.02


class HAProxyError(RuntimeError):
    """HAProxy is missing or too old, did not start, or refused a configuration."""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next((p for p in SBIN if os.access(p, os.X_OK)), None)
    if not found:
        raise HAProxyError(f"gateway: haproxy not found on PATH or in /usr/sbin: {INSTALL_HINT}")
    return found


def haproxy_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"version (\d+)\.(\d+)", out)
    if not found:
        raise HAProxyError(f"gateway: {binary} -v does not say its version: {out.strip()!r}")
    return int(found[1]), int(found[2])


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
    """Runs in the child between fork and exec: the kernel sends SIGKILL when the parent's thread ends (the
    setting survives the master's re-exec on every reload: haproxy is not set-user-ID)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Processes:
    """The master's `show proc`: how often it reloaded (and failed to), and its current workers."""

    reloads: int
    failed: int
    workers: tuple[int, ...]


def parse_show_proc(text: str) -> Processes:
    reloads = failed = 0
    workers: list[int] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").split(" ")[0]
            continue
        fields = line.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        if fields[1] == "master":
            reloads = int(fields[2])
            failed_count = re.search(r"failed: (\d+)", line)
            failed = int(failed_count[1]) if failed_count else 0
        elif fields[1] == "worker" and section == "workers":  # not the "old workers" still finishing
            workers.append(int(fields[0]))
    return Processes(reloads, failed, tuple(workers))


@dataclass(frozen=True)
class Folder:
    """The gateway's private (0700) folder: the configuration, the master's CLI socket, the control plane's socket."""

    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "haproxy.cfg"

    @property
    def master_socket(self) -> str:
        return str(self.path / "haproxy-master.sock")

    @property
    def control_socket(self) -> str:
        return str(self.path / "gateway.sock")

    @property
    def lua_file(self) -> str:
        return str(self.path / "hop_by_hop.lua")


def check_config(binary: str, config: Path) -> None:
    checked = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise HAProxyError(f"gateway: haproxy refused the configuration: {checked.stdout}{checked.stderr}")


@dataclass
class HAProxy:
    binary: str
    proc: subprocess.Popen[bytes]  # the master
    folder: Folder

    @property
    def control_socket(self) -> str:
        return self.folder.control_socket

    @property
    def lua_file(self) -> str:
        return self.folder.lua_file

    @classmethod
    def start(cls, listen: str, metrics_listen: str | None = None) -> HAProxy:
        """Start HAProxy on `listen` with every request going to the control plane until the first routing table
        is loaded. Call from the main thread: PR_SET_PDEATHSIG fires when the thread that forked the child ends,
        and the main thread lives as long as the process."""
        binary = haproxy_binary()
        if haproxy_version(binary) < MIN_VERSION:
            raise HAProxyError(f"gateway: {binary} is older than {'.'.join(map(str, MIN_VERSION))}: {INSTALL_HINT}")
        remove_folders_of_dead_gateways()
        folder = Folder(Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX)))  # mode 0700
        try:
            (folder.path / PID_FILE).write_text(str(os.getpid()), encoding="utf-8")
            Path(folder.lua_file).write_text(HOP_BY_HOP_LUA, encoding="utf-8")
            first = render_config(
                listen=listen,
                control_socket=folder.control_socket,
                lua_file=folder.lua_file,
                routes=[],
                pools={},
                metrics_listen=metrics_listen,
            )
            folder.config_file.write_text(first, encoding="utf-8")
            check_config(binary, folder.config_file)
        except BaseException:
            shutil.rmtree(folder.path, ignore_errors=True)
            raise
        parent = os.getpid()
        proc = subprocess.Popen(
            # -W: master-worker, reloaded by SIGUSR2; -S: the master's CLI, a unix socket in the private folder.
            [binary, "-W", "-f", str(folder.config_file), "-S", f"{folder.master_socket},mode,600"],
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: _die_with(parent),  # safe: started before any thread exists
        )
        haproxy = cls(binary, proc, folder)
        try:
            haproxy._wait_for_worker()
        except BaseException:
            haproxy.stop()
            raise
        return haproxy

    def _show_proc_sync(self) -> Processes | None:
        try:
            with socket.socket(socket.AF_UNIX) as master:
                master.settimeout(2.0)
                master.connect(self.folder.master_socket)
                master.sendall(b"show proc\n")
                master.shutdown(socket.SHUT_WR)  # the master's CLI answers, then closes once the client is done
                chunks = []
                while chunk := master.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return None  # not listening yet, or re-executing itself for a reload
        return parse_show_proc(b"".join(chunks).decode(errors="replace"))

    async def _show_proc(self) -> Processes | None:
        try:
            reader, writer = await asyncio.open_unix_connection(self.folder.master_socket)
        except OSError:
            return None
        try:
            writer.write(b"show proc\n")
            writer.write_eof()  # the master's CLI answers, then closes once the client is done
            await writer.drain()
            text = (await asyncio.wait_for(reader.read(), 2.0)).decode(errors="replace")
        except (OSError, TimeoutError):
            return None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return parse_show_proc(text)

    def _wait_for_worker(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HAProxyError(f"gateway: haproxy exited with {self.proc.returncode} at start (see the log above)")
            processes = self._show_proc_sync()
            if processes is not None and processes.workers:
                return
            time.sleep(POLL_S)
        raise HAProxyError(f"gateway: haproxy had no worker within {START_TIMEOUT_S:.0f}s")

    async def load(self, config: str) -> None:
        """Replace HAProxy's whole configuration and return once a new worker runs it; running requests finish on
        the old worker (graceful reload). A configuration HAProxy refuses changes nothing."""
        candidate = self.folder.path / "haproxy.cfg.new"
        candidate.write_text(config, encoding="utf-8")
        checker = await asyncio.create_subprocess_exec(
            self.binary, "-c", "-q", "-f", str(candidate),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await checker.communicate()
        if checker.returncode != 0:
            raise HAProxyError(f"gateway: haproxy refused the configuration: {output.decode(errors='replace')}")
        before = await self._show_proc()
        if before is None:
            raise HAProxyError("gateway: haproxy's master does not answer on its socket")
        os.replace(candidate, self.folder.config_file)
        self.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HAProxyError(f"gateway: haproxy exited with {self.proc.returncode} while reloading")
            now = await self._show_proc()
            if now is not None and now.reloads > before.reloads:
                if now.failed > before.failed:
                    raise HAProxyError("gateway: haproxy failed to reload (see its messages in the log above)")
                if set(now.workers) - set(before.workers):
                    return
            await asyncio.sleep(POLL_S)
        raise HAProxyError(f"gateway: haproxy did not reload within {LOAD_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # Soft stop: the worker stops listening, finishes running requests (at most hard-stop-after), then
            # the master exits.
            self.proc.send_signal(signal.SIGUSR1)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # the worker follows its master
                self.proc.wait()
        shutil.rmtree(self.folder.path, ignore_errors=True)
