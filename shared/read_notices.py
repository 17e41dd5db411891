"""Values a command derives from the read model, remembered in memory and forgotten when the projection changes them.

Some commands need a read-model lookup that is not their aggregate's state (intake's reports need the milestone ids
of the project's plans). Such values change rarely, so a process keeps them (`NoticedCache`) instead of asking
PostgreSQL on every command, and the projection says when one changes: in the transaction that changes the rows it
calls `notify_changed` (PostgreSQL's NOTIFY, delivered to listeners only when that transaction commits), and every
process of the service listens on its schema's channel (`NoticeListener`, one connection of its own) and forgets
the entry named.

- A value read while a change commits is not kept: every notice bumps a generation, and `put` stores only when no
  notice arrived since the `generation()` taken before the read.
- While the listening connection is down, notices may be lost: the cache keeps nothing (every lookup reads the read
  model) and is emptied when the connection is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import CONNECTION_ERRORS, ident

log = logging.getLogger("tiaodu.notices")

DEFAULT_ENTRIES = 10_000
RECONNECT_S = 1.0
SEPARATOR = ":"


def notice_channel(schema: str) -> str:
    """The channel a service's projection notifies on (its schema's name: a rebuild's scratch schema has its own)."""
    return ident(schema) + "_changed"


async def notify_changed(conn: asyncpg.Connection, schema: str, kind: str, keys: Sequence[str]) -> None:
    """Inside the projection's transaction: the entries `kind:key` of every process's cache are out of date once it
    commits (NOTIFY is transactional: nothing is sent if it rolls back)."""
    if keys:
        await conn.execute(
            "SELECT pg_notify($1, $2 || key) FROM unnest($3::text[]) AS key",
            notice_channel(schema),
            kind + SEPARATOR,
            sorted(set(keys)),
        )


class NoticedCache:
    """A bounded map `(kind, key) -> value` kept only while a listener is connected (see the module's docstring)."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self.listening = False
        self._generation = 0
        self._entries: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def generation(self) -> int:
        """Take before reading the value to `put`."""
        return self._generation

    def get(self, kind: str, key: str) -> Any | None:
        value = self._entries.get((kind, key))
        if value is not None:
            self._entries.move_to_end((kind, key))
        return value

    def put(self, kind: str, key: str, value: Any, read_at: int) -> None:
        """Keep `value`, read after `generation()` returned `read_at`, unless a notice came in meanwhile."""
        if not self.listening or read_at != self._generation:
            return
        self._entries[(kind, key)] = value
        self._entries.move_to_end((kind, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def changed(self, payload: str) -> None:
        """A notice `kind:key`: forget that entry (and anything being read now)."""
        self._generation += 1
        kind, _, key = payload.partition(SEPARATOR)
        self._entries.pop((kind, key), None)

    def deaf(self) -> None:
        """The listener lost its connection: notices may be missed from now on, so nothing is kept."""
        self.listening = False
        self._generation += 1
        self._entries.clear()


class NoticeListener:
    """Holds one connection LISTENing on a schema's channel and feeds `cache`; reconnects when it is lost."""

    def __init__(self, database_url: str, schema: str, cache: NoticedCache) -> None:
        self.database_url = database_url
        self.channel = notice_channel(schema)
        self.cache = cache

    def _on_notice(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.cache.changed(str(payload))

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except CONNECTION_ERRORS as exc:
                log.warning("notices: listening on %s failed (%s); reconnecting", self.channel, exc)
            await asyncio.sleep(RECONNECT_S)

    async def _listen(self) -> None:
        """Until the connection is lost."""
        conn = await asyncpg.connect(self.database_url)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self.channel, self._on_notice)
            self.cache.listening = True  # from here on every change is heard
            await lost.wait()
        finally:
            self.cache.deaf()
            if not conn.is_closed():
                conn.terminate()
