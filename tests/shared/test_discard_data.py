"""A throwaway PostgreSQL's data folder removed without making the caller wait (the suite's own server ends with
hundreds of databases), and a removal cut short finished by the next one."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from shared.devstack.embedded import start_nats, start_postgres
from shared.devstack.pg_home import DISCARDED, discard_data


def a_data_folder(root: Path, name: str, files: int = 50) -> Path:
    folder = root / "data" / name
    (folder / "base").mkdir(parents=True)
    for i in range(files):
        (folder / "base" / str(i)).write_bytes(b"x" * 100)
    return folder


def test_a_discarded_folder_leaves_at_once_and_is_removed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "pg-home"
    monkeypatch.setenv("TIAODU_PG_HOME", str(home))
    data_dir = tmp_path / "run" / "pg"
    data_dir.mkdir(parents=True)
    (data_dir / "pgdata.id").write_text("abc123\n", encoding="utf-8")
    folder = a_data_folder(home, "abc123")
    interrupted = a_data_folder(home, f"{DISCARDED}older")  # an earlier removal the machine cut short
    kept = a_data_folder(home, "in-use")  # another server's data

    discard_data(data_dir, in_background=True)
    assert not folder.exists(), "the data folder is still under its own name when discard_data returns"

    deadline = time.monotonic() + 20
    while list((home / "data").glob(f"{DISCARDED}*")):
        assert time.monotonic() < deadline, "the discarded folders were never removed"
        time.sleep(0.05)
    assert not interrupted.exists()
    assert kept.is_dir() and len(list((kept / "base").iterdir())) == 50, "another server's data was touched"


def test_a_server_that_never_started_has_nothing_to_discard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIAODU_PG_HOME", str(tmp_path / "pg-home"))
    discard_data(tmp_path / "never-started", in_background=True)  # no pgdata.id: nothing to do, no error
    assert not (tmp_path / "pg-home").exists()


def segment_exists(shm_id: str) -> bool:
    shown = subprocess.run(["ipcs", "-m", "-i", shm_id], capture_output=True, text=True, check=True)
    return f"shmid={shm_id}" in shown.stdout  # ipcs says "not found" on stderr and exits 0


def test_a_throwaway_server_is_ended_at_once_and_postgres_frees_its_shared_memory(tmp_path: Path) -> None:
    """`Server.discard` ends the suite's throwaway servers without a graceful stop (nats-server's writes every
    stream's state); PostgreSQL's immediate shutdown still ends its children and removes its shared memory segment,
    so a discarded server leaves nothing behind on the machine. The data is then removed in the background."""
    pg = start_postgres(tmp_path / "pg", durable=False)
    nats = start_nats(tmp_path / "nats")
    try:
        # postmaster.pid's last line: the shared memory segment's key and id (PostgreSQL's own record of it).
        shm_id = (tmp_path / "pg" / "pgdata" / "postmaster.pid").read_text().splitlines()[6].split()[1]
        assert segment_exists(shm_id)
        started = time.monotonic()
        nats.discard()
        pg.discard()
        assert time.monotonic() - started < 5
        assert nats.proc.returncode == -signal.SIGKILL and pg.proc.returncode == 0  # PostgreSQL exits cleanly
        assert not segment_exists(shm_id), "PostgreSQL's shared memory segment outlived it"
    finally:
        nats.stop()
        pg.stop()
        discard_data(tmp_path / "pg", in_background=True)
