"""A service split into processes: API workers behind one port (TIAODU_WORKERS) and a background worker
(TIAODU_ROLE), each a real `python -m services.intake` process on the suite's NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from shared.devstack.children import Child, parse_tokens, stop_processes, wait_ready
from shared.devstack.embedded import free_port
from shared.settings import Settings
from tests.platform import project_body, wait_until

ROOT = Path(__file__).resolve().parents[2]


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "TIAODU_", "DATABASE_"))}
    return keep | {
        "NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "TIAODU_STREAM": settings.stream,
        "TIAODU_SUBJECT_PREFIX": settings.subject_prefix,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@contextmanager
def intake_process(env: dict[str, str], name: str) -> Iterator[Child]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="tiaodu-roles-")) / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.intake"],
            cwd=ROOT,
            env=env | {"SERVICE_PORT": str(port)},
            stdout=out,
            stderr=out,
        )
        child = Child(name, proc, f"http://127.0.0.1:{port}", log)
        try:
            wait_ready(child)
            yield child
        finally:
            stop_processes([proc])


def api_processes(supervisor: int) -> int:
    """The API processes under their supervisor (besides multiprocessing's resource tracker)."""
    return len(api_pids(supervisor))


def api_pids(supervisor: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found if b"spawn_main" in cmdline(int(pid))}


def cmdline(pid: int) -> bytes:
    """A process's command line; empty once it has gone (pgrep listed it a moment before)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def demo_tokens(env: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, "-m", "services.intake.cli", "bootstrap-demo"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return parse_tokens(done.stdout.decode())


async def test_api_workers_serve_while_a_separate_worker_projects(settings: Settings) -> None:
    env = service_env(settings)
    tokens = await asyncio.to_thread(demo_tokens, env)
    hq = {"Authorization": f"Bearer {tokens['hq']}"}
    orgs = {"unit_id": next(iter(tokens["units"])), "sponsor_leader_id": next(iter(tokens["leaders"]))}  # type: ignore[call-overload]
    worker_env = env | {"TIAODU_ROLE": "worker"}
    with intake_process(env | {"TIAODU_ROLE": "api", "TIAODU_WORKERS": "2"}, "api") as api:
        assert await asyncio.to_thread(api_processes, api.proc.pid) == 2
        async with httpx.AsyncClient(base_url=api.url, headers=hq, timeout=10) as client:
            with intake_process(worker_env, "worker") as worker:

                async def signed_in() -> bool:  # the worker has projected the demo credentials
                    return (await client.get("/v1/organisations")).status_code == 200

                await wait_until(signed_in, 30, "the worker to project the credentials")
                r = await client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024})
                assert r.status_code == 201, r.text
                r = await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]})
                assert r.status_code == 200, r.text
                # Many concurrent commands, answered by both API processes, all projected by the worker.
                replies = await asyncio.gather(
                    *(client.post("/v1/projects", json=project_body(name=f"并发{i}", **orgs)) for i in range(20))
                )
                assert all(r.status_code == 201 for r in replies), [r.text for r in replies if r.status_code != 201]
                last = max(r.json()["seq"] for r in replies)
                r = await client.get("/v1/projects", params={"min_seq": last, "limit": 100})
                assert r.status_code == 200, r.text
                assert {f"并发{i}" for i in range(20)} <= {p["name"] for p in r.json()["items"]}
                # Throughput work: the worker's wake-ups never preempt the API processes (shared.serve).
                assert os.sched_getscheduler(worker.proc.pid) == os.SCHED_BATCH
                assert os.sched_getscheduler(api.proc.pid) == os.SCHED_OTHER
                async with httpx.AsyncClient(base_url=worker.url, headers=hq, timeout=10) as direct:
                    assert (await direct.get("/readyz")).status_code == 200
                    assert (await direct.get("/v1/projects")).status_code == 404  # a worker serves no API
            # The worker is gone: commands are still taken, but API processes never project, so nothing catches up...
            r = await client.post("/v1/projects", json=project_body(name="等待投影", **orgs))
            assert r.status_code == 201, r.text
            created = r.json()
            r = await client.get(f"/v1/projects/{created['id']}", params={"min_seq": created["seq"], "wait_ms": 500})
            assert r.status_code == 504, r.text
            # ...until a worker runs again and takes up from its checkpoint.
            with intake_process(worker_env, "worker-2"):
                r = await client.get(f"/v1/projects/{created['id']}", params={"min_seq": created["seq"]})
                assert r.status_code == 200 and r.json()["name"] == "等待投影", r.text


async def test_a_killed_api_process_is_replaced_and_a_stop_ends_them_all(settings: Settings) -> None:
    """The supervisor of TIAODU_WORKERS (shared.api_workers): an API process SIGKILLed is replaced by a new one,
    the port keeps answering meanwhile, and SIGTERM to the supervisor stops every API process it started."""
    env = service_env(settings)
    tokens = await asyncio.to_thread(demo_tokens, env)
    hq = {"Authorization": f"Bearer {tokens['hq']}"}
    with intake_process(env | {"TIAODU_WORKERS": "2"}, "api") as api:
        first = await asyncio.to_thread(api_pids, api.proc.pid)
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)

        async def replaced() -> bool:
            now = await asyncio.to_thread(api_pids, api.proc.pid)
            return len(now) == 2 and victim not in now

        await wait_until(replaced, 30, "a new API process in place of the killed one")
        async with httpx.AsyncClient(base_url=api.url, headers=hq, timeout=10) as client:
            for _ in range(6):  # new connections: whichever process takes them answers
                r = await client.get("/v1/organisations", headers={"Connection": "close"})
                # The killed process's partitions wait for its leases to expire; until the projection is past them
                # an unknown-to-the-read-model check may answer 503 with Retry-After, which a client retries.
                for _ in range(15):
                    if r.status_code != 503 or r.headers.get("retry-after") != "1":
                        break
                    await asyncio.sleep(1)
                    r = await client.get("/v1/organisations", headers={"Connection": "close"})
                assert r.status_code == 200, r.text
        started = await asyncio.to_thread(api_pids, api.proc.pid)
    # intake_process stopped the supervisor with SIGTERM: none of its API processes outlives it.
    stopped = started | first - {victim}

    async def all_gone() -> bool:
        return not await asyncio.to_thread(left_running, stopped)

    await wait_until(all_gone, 15, f"the API processes {sorted(stopped)} gone with their supervisor")


def left_running(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie awaiting its reaper is not)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            running.add(pid)
    return running


async def test_a_credential_issued_a_moment_ago_is_not_refused_as_invalid_while_the_projection_catches_up(
    settings: Settings,
) -> None:
    """An API process knows tokens through its read model, which a separate worker fills. A token issued before the
    read model has it is not answered 401 "invalid": without a worker the API says it cannot tell yet (503 with
    Retry-After), and with one it waits the moment until the worker has projected the credential."""
    env = service_env(settings)
    tokens = await asyncio.to_thread(demo_tokens, env)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    unit = next(iter(tokens["units"]))  # type: ignore[call-overload]
    with intake_process(env | {"TIAODU_ROLE": "api"}, "api") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            r = await client.get("/v1/organisations", headers=admin)  # nothing has projected the credential yet
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"] == "1"
            with intake_process(env | {"TIAODU_ROLE": "worker"}, "worker"):
                for n in range(5):  # each token is used the moment the API answered its issue, before any projection
                    r = await client.post(f"/v1/organisations/{unit}/credentials", json={"label": f"新令牌{n}"},
                                          headers=admin)  # fmt: skip
                    assert r.status_code == 201, r.text
                    issued = r.json()
                    r = await client.get("/v1/organisations", headers={"Authorization": f"Bearer {issued['token']}"})
                    assert r.status_code == 200, f"token {n} (seq {issued['seq']}): {r.status_code} {r.text}"
                # A token nobody issued is refused at once: the projection is at the log's end, nothing to wait for.
                for _ in range(3):
                    r = await client.get("/v1/organisations", headers={"Authorization": "Bearer no-such-token"})
                    assert r.status_code == 401, r.text
                    assert r.elapsed.total_seconds() < 1.0, r.elapsed


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIAODU_ROLE", "reader"),
        ("TIAODU_WORKERS", "0"),
        ("TIAODU_PROJECTION_LINGER_MS", "5000"),
        ("TIAODU_WORKER_SCHED", "idle"),
        ("TIAODU_WORKER_NICE", "20"),
        ("TIAODU_LEASE_TTL_S", "1"),  # below the 2 s under which leases flap
    ],
)
def test_a_wrong_process_setting_stops_the_process_naming_it(settings: Settings, variable: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.intake"],
        env=service_env(settings, **{variable: value, "SERVICE_PORT": str(free_port())}),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert variable in done.stderr.decode()
