"""The processes of a benchmark run: service processes as `make run` starts them, tool processes that answer one
JSON job, and what Linux says about each (CPU time from /proc/<pid>/stat, peak RSS from VmHWM)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.devstack.children import Child, stop_processes, wait_ready
from shared.devstack.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): unlike throughput, it hardly moves with the machine's load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (all processes, ours and anyone else's)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process ever had (None once it has exited: a zombie has no memory)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def children_of(pid: int) -> list[int]:
    """Direct children (uvicorn's worker processes under its supervisor)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any platform setting, plus `extra`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "TIAODU_", "DATABASE_"))}
    return keep | {"PYTHONPATH": str(ROOT), **extra}


@dataclass
class Service:
    """One service process (a uvicorn supervisor with workers, or a single process) and the peaks seen of it."""

    name: str
    child: Child
    peaks: dict[str, float] = field(default_factory=dict)
    stopped: bool = False

    @property
    def url(self) -> str:
        return self.child.url

    def pids(self) -> dict[str, int]:
        """name -> pid of the process and of each process it started (uvicorn's API workers and the resource
        tracker multiprocessing starts beside them, the gateway's HAProxy master and its workers)."""
        pid = self.child.proc.pid
        named = {self.name: pid}
        workers = 0
        for child in children_of(pid):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
            except FileNotFoundError:
                continue
            program = Path(cmdline.split("\0", 1)[0]).name
            if "resource_tracker" in cmdline:
                named[f"{self.name}-resource-tracker"] = child
            elif not program.startswith("python"):  # e.g. the gateway's HAProxy master
                named[f"{self.name}-{program}"] = child
                # ...whose worker does the forwarding (a reload leaves the old one finishing beside the new)
                for n, grandchild in enumerate(children_of(child), start=1):
                    named[f"{self.name}-{program}-{n}"] = grandchild
            else:
                workers += 1
                named[f"{self.name}-{workers}"] = child
        return named

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    def record_peaks(self) -> dict[str, float]:
        """Read each process's peak now (a stopped service keeps what was read just before it stopped)."""
        if not self.stopped:
            for name, pid in self.pids().items():
                mb = peak_rss_mb(pid)
                if mb is not None:
                    self.peaks[name] = max(self.peaks.get(name, 0.0), mb)
        return self.peaks

    def stop(self) -> None:
        self.record_peaks()
        self.stopped = True
        stop_processes([self.child.proc])


def start_service(name: str, module: str, env: dict[str, str], logs: Path, *, port: int | None = None) -> Service:
    port = port or free_port()
    log = logs / f"{name}.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=clean_env(**env, SERVICE_PORT=str(port)),
            stdout=fh,
            stderr=fh,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    child = Child(name, proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(child, timeout=120)
    except BaseException:
        stop_processes([proc])
        raise
    return Service(name, child)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (PostgreSQL's backends under the postmaster)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in children_of(pid))


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


def all_cpu(services: Iterable[Service]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for service in services:
        totals |= service.cpu()
    return totals


def run_tool(module: str, job: dict[str, Any], *, timeout: float = 900) -> dict[str, Any]:
    """Run `python -m module '<job as JSON>'` and wait; its last stdout line is the JSON answer."""
    return finish_tool(start_tool(module, job), module, timeout)


def start_tool(module: str, job: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start `python -m module '<job as JSON>'` without waiting (collect with `finish_tool`): its pid is there for
    CPU figures while it runs."""
    return subprocess.Popen(
        [sys.executable, "-m", module, json.dumps(job)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=clean_env(),
    )


def finish_tool(proc: subprocess.Popen[bytes], module: str, timeout: float = 900) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} exited with {proc.returncode}:\n{err.decode()[-3000:]}")
    answer: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return answer


def job_argument() -> dict[str, Any]:
    """A tool's job: the JSON in its first argument."""
    job: dict[str, Any] = json.loads(sys.argv[1])
    return job
