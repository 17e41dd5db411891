"""History bundles: the events of a programme, a project or a period as stored, with the seals over them, every
proof and the public keys, in one JSON file that tools/verify_bundle.py checks offline (docs/audit.md).

The events are chosen from the audit event index (`event_index`), then read back from the log by sequence so that
the bundle holds their stored bytes, not a re-serialisation. Only events the newest seal covers are exported: each
carries its inclusion proof in that seal. The manifest (what was asked, which events, which seal) is signed with
the platform key, so that leaving an event out or adding one is caught even when the chains still look whole.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import rfc8785

from services.audit import proofs
from services.audit.sealing import SEALS, Sealer, SealRecord, catch_up, seal_by_number
from services.audit.signing import Signer

FORMAT = "tiaodu-history-bundle/1"
EVENT_INDEX = "event_index"
# Aggregates that gather many projects' events (a day's monitoring run, an organisation's inbox): a project's
# bundle names its own aggregates, not these.
SHARED_AGGREGATES = ("monitoring", "inbox", "delivery", "organisation", "rule_set", "routing_rule_set",
                     "work_calendar", "issue_rule_set", "seal")  # fmt: skip


class NothingSealed(LookupError):
    """No seal exists yet: there is nothing a bundle could prove."""


class IndexBehind(TimeoutError):
    """The event index has not reached the newest seal's end: a bundle now could leave sealed events out."""


@dataclass(frozen=True)
class Scope:
    programme_id: str | None = None
    project_id: str | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None

    @property
    def complete_histories(self) -> bool:
        """Whole aggregates from version 1 (no period given): the verifier then insists on version 1 first."""
        return self.recorded_from is None and self.recorded_to is None

    def document(self) -> dict[str, Any]:
        return {
            "programme_id": self.programme_id,
            "project_id": self.project_id,
            "recorded_from": self.recorded_from.isoformat() if self.recorded_from else None,
            "recorded_to": self.recorded_to.isoformat() if self.recorded_to else None,
        }


def _aggregates_sql(schema: str, scope: Scope) -> tuple[str, list[Any]] | None:
    """SQL for the (aggregate_type, aggregate_id) pairs in scope and its parameters; None: every aggregate."""
    idx = f"{schema}.{EVENT_INDEX}"
    if scope.project_id is not None:
        projects = "SELECT $1::text AS id"
        params: list[Any] = [scope.project_id]
        own = "SELECT 'project', $1::text"
    elif scope.programme_id is not None:
        projects = (f"SELECT aggregate_id AS id FROM {idx} WHERE type = 'ProjectRegistered'"
                    " AND payload->>'programme_id' = $1")  # fmt: skip
        params = [scope.programme_id]
        own = (f"SELECT 'programme', $1::text UNION SELECT aggregate_type, aggregate_id FROM {idx}"
               " WHERE payload->>'programme_id' = $1")  # fmt: skip
    else:
        return None
    sql = (f"WITH p AS ({projects}) SELECT t, i FROM ({own} UNION SELECT 'project', id FROM p"
           f" UNION SELECT i.aggregate_type, i.aggregate_id FROM {idx} i JOIN p ON i.payload->>'project_id' = p.id)"
           " AS u(t, i) WHERE t <> ALL($2::text[])")  # fmt: skip
    return sql, [*params, list(SHARED_AGGREGATES)]


async def selected_seqs(conn: asyncpg.Connection, schema: str, scope: Scope, until_seq: int) -> list[int]:
    in_scope = _aggregates_sql(schema, scope)
    aggregates, params = in_scope if in_scope else (None, [])
    params.append(until_seq)
    where = [f"e.seq <= ${len(params)}"]
    if scope.recorded_from is not None:
        params.append(scope.recorded_from)
        where.append(f"e.recorded_at >= ${len(params)}")
    if scope.recorded_to is not None:
        params.append(scope.recorded_to)
        where.append(f"e.recorded_at < ${len(params)}")
    join = f" JOIN ({aggregates}) a(t, i) ON e.aggregate_type = a.t AND e.aggregate_id = a.i" if aggregates else ""
    rows = await conn.fetch(
        f"SELECT e.seq FROM {schema}.{EVENT_INDEX} e{join} WHERE {' AND '.join(where)} ORDER BY e.seq", *params
    )
    return [r["seq"] for r in rows]


def seal_document(record: SealRecord) -> dict[str, Any]:
    return record.seal.model_dump(mode="json")


def public_keys(signer: Signer, key_ids: set[str]) -> list[dict[str, str]]:
    known = signer.keys()
    return [known[k].document() for k in sorted(key_ids) if k in known]


async def export(sealer: Sealer, scope: Scope, *, exported_at: datetime) -> dict[str, Any]:
    """The bundle of `scope`, as a JSON document; NothingSealed when no seal exists yet, IndexBehind when the index
    does not reach the newest seal in time."""
    store, schema = sealer.store, sealer.schema
    async with sealer.pool.acquire() as conn:
        newest = await catch_up(conn, schema, store)
    if newest is None:
        raise NothingSealed("尚无封存,无法导出可验证的历史包")
    if not await sealer.index_reached(newest.seal.tree_size):
        raise IndexBehind(
            f"事件索引尚未到达封存 #{newest.seal.seal_number} 覆盖的序号 {newest.seal.tree_size},请稍后重试"
        )
    async with sealer.pool.acquire() as conn:
        seqs = await selected_seqs(conn, schema, scope, newest.seal.tree_size)
        first_size = seqs[0] if seqs else newest.seal.tree_size
        rows = await conn.fetch(
            f"SELECT seal_number FROM {schema}.{SEALS} WHERE seal_number >= coalesce("
            f"(SELECT min(seal_number) FROM {schema}.{SEALS} WHERE tree_size >= $1), $2) ORDER BY seal_number",
            first_size, newest.seal.seal_number,
        )  # fmt: skip
        seals = [r for r in [await seal_by_number(conn, schema, row["seal_number"]) for row in rows] if r]
        consistency = [
            {"first": a.seal.seal_number, "second": b.seal.seal_number,
             "proof": await proofs.consistency(conn, schema, store, a, b)}
            for a, b in itertools.pairwise(seals)
        ]  # fmt: skip
        events: list[dict[str, Any]] = []
        listed: list[list[Any]] = []
        paths = await proofs.inclusions(conn, schema, store, newest, seqs)
        for seq in seqs:
            stored = await store.js.get_msg(store.stream, seq=seq, direct=True)
            assert stored.data is not None and stored.subject is not None
            events.append({"seq": seq, "subject": stored.subject, "stored": stored.data.decode(),
                           "inclusion": paths[seq]})  # fmt: skip
            envelope = json.loads(stored.data)
            listed.append([seq, envelope["hash"], envelope["aggregate_type"], envelope["aggregate_id"],
                           envelope["version"]])  # fmt: skip
    manifest: dict[str, Any] = {
        "stream": store.stream, "scope": scope.document(), "complete_histories": scope.complete_histories,
        "exported_at": exported_at.isoformat(), "seal_number": newest.seal.seal_number,
        "tree_size": newest.seal.tree_size, "key_id": sealer.signer.key_id,
        "events": listed,
    }  # fmt: skip
    signature = sealer.signer.sign(bytes(rfc8785.dumps(manifest)))
    key_ids = {s.seal.key_id for s in seals} | {sealer.signer.key_id}
    return {
        "format": FORMAT, "manifest": manifest, "manifest_signature": signature,
        "public_keys": public_keys(sealer.signer, key_ids), "seals": [seal_document(s) for s in seals],
        "consistency": consistency, "events": events,
    }  # fmt: skip
