"""The Merkle tree over the whole log, kept in the audit schema so that seals and proofs never re-read the log.

- `merkle_nodes`: every perfect, aligned subtree ((level, index) -> SHA-256), leaves at level 0: about two rows per
  event; any proof is one query for its few dozen nodes.
- `merkle_frontier`: the tree's compact range at each size a seal was made at: a new seal hashes only the leaves
  after the newest one (`grow`), read from audit's event index (seq -> hash, one query per 20,000) rather than from
  the log, whose batched reads cost a parse of every message's headers in Python.
Both follow from the log alone (a cache, never the truth): dropped, they are made again by the next `grow`, and a
seal's root is checked against what they give before anything is proved from them (`proofs.py`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import asyncpg
from nats.js.errors import NotFoundError
from pydantic_core import from_json

from services.audit.merkle import Frontier, NodeKey, extend
from shared.eventstore import EventStore

NODES = "merkle_nodes"
FRONTIER = "merkle_frontier"

DDL = f"""
CREATE TABLE IF NOT EXISTS {{s}}.{NODES} (
    level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE IF NOT EXISTS {{s}}.{FRONTIER} (size bigint PRIMARY KEY, nodes bytea[] NOT NULL);
"""

CHUNK = 20_000  # leaves read, hashed and written per round
HEX64 = re.compile(r"[0-9a-f]{64}")
EVENT_INDEX = "event_index"  # audit's index of every event (read_model.py): seq -> hash, among others


def leaf_of(data: bytes) -> bytes:
    """A message's Merkle leaf: its event's 32-byte hash as stored (`hash`, hex), or, for a message that is not an
    envelope with a well-formed hash (a forged one), SHA-256 of its stored bytes. docs/audit.md says the same."""
    try:
        claimed = from_json(data).get("hash")  # pydantic-core's parser: a third of json.loads' time here
        if isinstance(claimed, str) and HEX64.fullmatch(claimed):
            return bytes.fromhex(claimed)
    except (ValueError, AttributeError):
        pass

    return hashlib.sha256(data).digest()


async def create_tables(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(DDL.format(s=schema))


async def frontier_at_most(conn: asyncpg.Connection, schema: str, size: int) -> Frontier:
    row = await conn.fetchrow(
        f"SELECT size, nodes FROM {schema}.{FRONTIER} WHERE size <= $1 ORDER BY size DESC LIMIT 1", size
    )
    return Frontier(row["size"], tuple(row["nodes"])) if row else Frontier(0, ())


async def _write_nodes(conn: asyncpg.Connection, schema: str, nodes: Iterable[tuple[NodeKey, bytes]]) -> None:
    rows = list(nodes)
    if rows:
        # ON CONFLICT: a sealer that died after writing nodes but before its frontier leaves them for the next one.
        await conn.execute(
            f"INSERT INTO {schema}.{NODES} (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[],"
            " $3::bytea[]) ON CONFLICT (level, idx) DO NOTHING",
            [k[0] for k, _ in rows],
            [k[1] for k, _ in rows],
            [h for _, h in rows],
        )


async def _stored(store: EventStore, seq: int) -> bytes:
    try:
        msg = await store.js.get_msg(store.stream, seq=seq, direct=True)
    except NotFoundError:  # the stream denies deletes: a gap means the log is not what it must be
        raise RuntimeError(f"the log has no message at sequence {seq}: refusing to seal it") from None
    assert msg.data is not None
    return msg.data


async def read_leaves(conn: asyncpg.Connection, schema: str, store: EventStore, lo: int, hi: int) -> list[bytes]:
    """Leaves of sequences lo..hi: the hashes audit's event index holds (one query), and for a sequence it lacks (an
    event its projection parked, or one it has not reached yet) the message itself read from the log."""
    rows = await conn.fetch(
        f"SELECT seq, hash FROM {schema}.{EVENT_INDEX} WHERE seq BETWEEN $1 AND $2 ORDER BY seq", lo, hi
    )
    indexed = {r["seq"]: r["hash"] for r in rows}
    leaves = []
    for seq in range(lo, hi + 1):
        claimed = indexed.get(seq)
        if claimed is not None and HEX64.fullmatch(claimed):
            leaves.append(bytes.fromhex(claimed))
        else:
            leaves.append(leaf_of(await _stored(store, seq)))
    return leaves


async def grow(conn: asyncpg.Connection, schema: str, store: EventStore, size: int) -> Frontier:
    """The tree of the log's first `size` events, its nodes stored: only the leaves after the newest stored frontier
    are read and hashed. The caller holds the sealing lock (one grower at a time)."""
    frontier = await frontier_at_most(conn, schema, size)
    while frontier.size < size:
        hi = min(size, frontier.size + CHUNK)
        frontier, nodes = extend(frontier, await read_leaves(conn, schema, store, frontier.size + 1, hi))
        await _write_nodes(conn, schema, nodes)
    await conn.execute(
        f"INSERT INTO {schema}.{FRONTIER} (size, nodes) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING",
        size,
        list(frontier.nodes),
    )
    return frontier


async def nodes(conn: asyncpg.Connection, schema: str, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    wanted = list(keys)
    rows = await conn.fetch(
        f"SELECT n.level, n.idx, n.hash FROM {schema}.{NODES} n"
        " JOIN unnest($1::smallint[], $2::bigint[]) AS k(l, i) ON n.level = k.l AND n.idx = k.i",
        [k[0] for k in wanted],
        [k[1] for k in wanted],
    )
    return {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
