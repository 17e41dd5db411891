"""A throwaway PostgreSQL's data folder removed without making the caller wait (the suite's own server ends with
hundreds of databases), and a removal cut short finished by the next one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

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
