"""PostgreSQL access: pools and identifier safety."""

from __future__ import annotations

import re

import asyncpg

IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def ident(name: str) -> str:
    """A schema or table name we interpolate into SQL: refuse anything but a plain lower-case identifier."""
    if not IDENT_RE.match(name):
        raise ValueError(f"unsafe SQL identifier {name!r}")
    return name


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset between uses: the services keep no session state (no LISTEN, SET or session locks), so
    the pool's default reset (a round trip on every release) is skipped; only a transaction left open (a cancelled
    request) is rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, command_timeout=30, reset=_keep_session
    )
    assert pool is not None
    return pool


# Errors that mean "the database is unreachable", as opposed to "this event cannot be applied".
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    # A connection the server dropped in the middle of an operation can be left in a state asyncpg refuses to use
    # ("another operation is in progress"): the same condition, seen one request later.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)
