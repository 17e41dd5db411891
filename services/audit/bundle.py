"""History bundles: the events of a programme, a project or a period as stored, with the seals over them, every
proof and the public keys, in one JSON file that tools/verify_bundle.py checks offline (docs/audit.md §6).

Which events, and how each aggregate is checked, is bundle_scope.py's choice. The events are read back from the log
by sequence so that the bundle holds their stored bytes, not a re-serialisation; only events the newest seal covers
are exported, each with its inclusion proof in that seal. The manifest (what was asked, which aggregates how, which
seal, and the SHA-256 of the listing of every exported event) is signed with the platform key, so that leaving an
event out or adding one is caught even when the chains still look whole.

The bundle is written to a file as it is made, in batches (`BATCH` events: their proofs, one query; their stored
bytes, direct gets), so that a programme of hundreds of thousands of events never sits whole in the process.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import IO, Any

import asyncpg
import rfc8785

from services.audit import proofs
from services.audit.bundle_scope import SELECTION, Scope, Selection, select
from services.audit.sealing import SEALS, Sealer, SealRecord, catch_up, seal_by_number
from services.audit.signing import Signer

FORMAT = "tiaodu-history-bundle/2"
BATCH = 1000  # events proved and read per round: bounds what the process holds of a bundle
__all__ = ["FORMAT", "IndexBehind", "NothingSealed", "Scope", "export"]


class NothingSealed(LookupError):
    """No seal exists yet: there is nothing a bundle could prove."""


class IndexBehind(TimeoutError):
    """The event index has not reached the newest seal's end: a bundle now could leave sealed events out."""


def seal_document(record: SealRecord) -> dict[str, Any]:
    return record.seal.model_dump(mode="json")


def public_keys(signer: Signer, key_ids: set[str]) -> list[dict[str, str]]:
    known = signer.keys()
    return [known[k].document() for k in sorted(key_ids) if k in known]


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


async def _batches(conn: asyncpg.Connection, query: str) -> AsyncIterator[list[asyncpg.Record]]:
    """Rows of `query` over the selection, in stream order, BATCH at a time (a server-side cursor)."""
    cursor = await conn.cursor(query)
    while rows := await cursor.fetch(BATCH):
        yield rows


async def _listing_sha256(conn: asyncpg.Connection) -> str:
    """SHA-256 of JCS(listing), the listing being [[seq, hash, aggregate_type, aggregate_id, version], …]: JCS of
    an array is its members' JCS joined by commas in brackets, so it is hashed a batch at a time."""
    digest, first = hashlib.sha256(b"["), True
    async for rows in _batches(conn, f"SELECT * FROM {SELECTION} ORDER BY seq"):
        for r in rows:
            digest.update((b"" if first else b",") + rfc8785.dumps(_listed(r)))
            first = False
    digest.update(b"]")
    return digest.hexdigest()


def _listed(row: asyncpg.Record) -> list[Any]:
    return [row["seq"], row["hash"], row["aggregate_type"], row["aggregate_id"], row["version"]]


async def _seals_from(conn: asyncpg.Connection, schema: str, first_seq: int, newest: SealRecord) -> list[SealRecord]:
    """From the first seal that covers the bundle's first event up to the newest."""
    rows = await conn.fetch(
        f"SELECT seal_number FROM {schema}.{SEALS} WHERE seal_number >= coalesce("
        f"(SELECT min(seal_number) FROM {schema}.{SEALS} WHERE tree_size >= $1), $2) ORDER BY seal_number",
        first_seq, newest.seal.seal_number,
    )  # fmt: skip
    return [r for r in [await seal_by_number(conn, schema, row["seal_number"]) for row in rows] if r]


def _manifest(sealer: Sealer, scope: Scope, selection: Selection, newest: SealRecord, exported_at: datetime,
              listing_sha256: str) -> dict[str, Any]:  # fmt: skip
    return {
        "stream": sealer.store.stream, "scope": scope.document(), "projects": selection.projects,
        "complete_histories": scope.complete_histories, "exported_at": exported_at.isoformat(),
        "seal_number": newest.seal.seal_number, "tree_size": newest.seal.tree_size, "key_id": sealer.signer.key_id,
        "aggregates": [a.document() for a in selection.aggregates], "events": selection.events,
        "listing_sha256": listing_sha256,
    }  # fmt: skip


async def export(sealer: Sealer, scope: Scope, out: IO[bytes], *, exported_at: datetime) -> int:
    """Write the bundle of `scope` to `out`; returns how many events it holds. NothingSealed when no seal exists yet,
    IndexBehind when the index does not reach the newest seal in time."""
    store, schema = sealer.store, sealer.schema
    async with sealer.pool.acquire() as conn:
        newest = await catch_up(conn, schema, store)
    if newest is None:
        raise NothingSealed("尚无封存,无法导出可验证的历史包")
    if not await sealer.index_reached(newest.seal.tree_size):
        raise IndexBehind(
            f"事件索引尚未到达封存 #{newest.seal.seal_number} 覆盖的序号 {newest.seal.tree_size},请稍后重试"
        )
    async with sealer.pool.acquire() as conn, conn.transaction():
        selection = await select(conn, schema, scope, newest.seal.tree_size)
        first_seq = await conn.fetchval(f"SELECT min(seq) FROM {SELECTION}")
        seals = await _seals_from(conn, schema, first_seq or newest.seal.tree_size, newest)
        consistency = [
            {"first": a.seal.seal_number, "second": b.seal.seal_number,
             "proof": await proofs.consistency(conn, schema, store, a, b)}
            for a, b in itertools.pairwise(seals)
        ]  # fmt: skip
        manifest = _manifest(sealer, scope, selection, newest, exported_at, await _listing_sha256(conn))
        key_ids = {s.seal.key_id for s in seals} | {sealer.signer.key_id}
        # The small members first (an auditor reading the file meets the manifest at its top), then the two lists.
        out.write(b'{"format": ' + _json(FORMAT) + b',\n"manifest": ' + _json(manifest))
        out.write(b',\n"manifest_signature": ' + _json(sealer.signer.sign(bytes(rfc8785.dumps(manifest)))))
        out.write(b',\n"public_keys": ' + _json(public_keys(sealer.signer, key_ids)))
        out.write(b',\n"seals": ' + _json([seal_document(s) for s in seals]))
        out.write(b',\n"consistency": ' + _json(consistency) + b',\n"listing": [')
        separator = b"\n"
        async for rows in _batches(conn, f"SELECT * FROM {SELECTION} ORDER BY seq"):
            for r in rows:
                out.write(separator + _json(_listed(r)))
                separator = b",\n"
        out.write(b'],\n"events": [')
        await proofs.check_roots(conn, schema, store, [newest])
        separator = b"\n"
        async for rows in _batches(conn, f"SELECT seq FROM {SELECTION} ORDER BY seq"):
            seqs = [r["seq"] for r in rows]
            paths = await proofs.inclusions_checked(conn, schema, newest, seqs)
            for seq in seqs:
                stored = await store.js.get_msg(store.stream, seq=seq, direct=True)
                assert stored.data is not None and stored.subject is not None
                entry = {"seq": seq, "subject": stored.subject, "stored": stored.data.decode(),
                         "inclusion": paths[seq]}  # fmt: skip
                out.write(separator + _json(entry))
                separator = b",\n"
        out.write(b"]}\n")
    return selection.events
