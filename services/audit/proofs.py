"""RFC 6962 proofs from the stored tree: inclusion of an event in a seal, consistency between two seals.

Before proving anything against a seal, the stored tree is checked to give that seal's root: nodes that do not (a
damaged cache, a log altered after sealing) never yield a proof, they raise `TreeMismatch`.
"""

from __future__ import annotations

import asyncpg

from services.audit import merkle, tree_store
from services.audit.sealing import SealRecord
from shared.eventstore import EventStore


class TreeMismatch(RuntimeError):
    """The log as it is now does not give the root a seal signed."""


async def check_roots(conn: asyncpg.Connection, schema: str, store: EventStore, seals: list[SealRecord]) -> None:
    """Raise TreeMismatch unless the stored tree gives each seal's signed root."""
    for record in seals:
        frontier = await tree_store.grow(conn, schema, store, record.seal.tree_size)
        if frontier.root().hex() != record.seal.root_hash:
            raise TreeMismatch(
                f"the log's first {record.seal.tree_size} events no longer give the root of seal "
                f"#{record.seal.seal_number}"
            )


async def _nodes(conn: asyncpg.Connection, schema: str, ranges: list[merkle.Range]) -> dict[merkle.NodeKey, bytes]:
    wanted = merkle.nodes_needed(ranges)
    found = await tree_store.nodes(conn, schema, wanted)
    if len(found) != len(wanted):
        raise TreeMismatch(f"{len(wanted) - len(found)} tree nodes are missing from {schema}.{tree_store.NODES}")
    return found


async def _checked_nodes(
    conn: asyncpg.Connection, schema: str, store: EventStore, seals: list[SealRecord], ranges: list[merkle.Range]
) -> dict[merkle.NodeKey, bytes]:
    await check_roots(conn, schema, store, seals)
    return await _nodes(conn, schema, ranges)


async def inclusion(
    conn: asyncpg.Connection, schema: str, store: EventStore, record: SealRecord, seq: int
) -> list[str]:
    """The audit path of stream sequence `seq` (leaf `seq - 1`) in the seal's tree, hex, nearest the leaf first."""
    ranges = merkle.inclusion_ranges(seq - 1, record.seal.tree_size)
    found = await _checked_nodes(conn, schema, store, [record], ranges)
    return [merkle.range_hash(lo, hi, found).hex() for lo, hi in ranges]


async def inclusions(
    conn: asyncpg.Connection, schema: str, store: EventStore, record: SealRecord, seqs: list[int]
) -> dict[int, list[str]]:
    """The audit paths of many sequences in one seal: the seal's root checked once, every node fetched in one query."""
    await check_roots(conn, schema, store, [record])
    return await inclusions_checked(conn, schema, record, seqs)


async def inclusions_checked(
    conn: asyncpg.Connection, schema: str, record: SealRecord, seqs: list[int]
) -> dict[int, list[str]]:
    """`inclusions` for a seal whose root the caller has checked (`check_roots`): a bundle proves its events in
    batches against one seal, checked once."""
    ranges = {seq: merkle.inclusion_ranges(seq - 1, record.seal.tree_size) for seq in seqs}
    found = await _nodes(conn, schema, [r for rs in ranges.values() for r in rs])
    return {seq: [merkle.range_hash(lo, hi, found).hex() for lo, hi in rs] for seq, rs in ranges.items()}


async def consistency(
    conn: asyncpg.Connection, schema: str, store: EventStore, first: SealRecord, second: SealRecord
) -> list[str]:
    """RFC 6962 PROOF(first.tree_size, D[second.tree_size]), hex."""
    ranges = merkle.consistency_ranges(first.seal.tree_size, second.seal.tree_size)
    found = await _checked_nodes(conn, schema, store, [first, second], ranges)
    return [merkle.range_hash(lo, hi, found).hex() for lo, hi in ranges]


async def leaf_hash_at(conn: asyncpg.Connection, schema: str, seq: int) -> str | None:
    """The stored leaf hash of a sequence (hex of SHA-256(0x00 || event hash)), for an auditor's cross-check."""
    found = await tree_store.nodes(conn, schema, [(0, seq - 1)])
    return found[(0, seq - 1)].hex() if found else None
