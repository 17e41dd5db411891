"""The open issues and 督办 orders a light of day D takes into account: as they stood when known at the moment judged,
never later than the end of D (docs/adr/0017, 0023), so that a what-if or a re-evaluation of an earlier day does not
see an escalation, a closure or a new deadline recorded after it.

One query per batch of projects finds the candidates: the rows open now, and the rows of the batch with a step
recorded after that moment (`<steps>.recorded_at > known_at`, an index range that is empty for today's evaluation).
A row with no later step is, provably, the fold of its steps recorded by then, so it is taken as it is; only a row
with later steps is folded again from its ledger (a second query, for those rows only). Today's runs (06:00, the
issue reaction) therefore read the current rows, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import asyncpg
from pydantic import BaseModel

from services.scheduling import domain_issues, domain_supervision
from services.scheduling.domain_issues import OPEN, KnownIssue
from services.scheduling.domain_supervision import CLOSED, KnownOrder
from shared.catalogue import CATALOGUE

K = TypeVar("K", KnownIssue, KnownOrder)


@dataclass(frozen=True)
class Ledger(Generic[K]):
    """A table of current rows beside its ledger of steps (one row per event, with its record time)."""

    rows: str  # table of current states (AggregateTable: id, project_id, status, state)
    steps: str  # the ledger (RowTable: seq, <key>, type, recorded_at, payload)
    key: str  # the ledger's column naming the aggregate
    open_now: str  # SQL condition on the current row `r`: open now
    model: type[K]
    step: Callable[[K | None, str, datetime, BaseModel], K]
    begins: frozenset[str]  # the event types an aggregate begins with


ISSUES: Ledger[KnownIssue] = Ledger(
    "project_issues", "issue_steps", "issue_id",
    "r.status IN (" + ", ".join(f"'{status}'" for status in sorted(OPEN)) + ")",
    KnownIssue, domain_issues.step, frozenset({"IssueRaised", "MeetingDecisionTracked"}),
)  # fmt: skip
ORDERS: Ledger[KnownOrder] = Ledger(
    "project_supervision_orders", "supervision_order_steps", "order_id", f"r.status <> '{CLOSED}'",
    KnownOrder, domain_supervision.step, frozenset({"SupervisionOrderIssued"}),
)  # fmt: skip


async def open_issues_as_known(
    conn: asyncpg.Connection, schema: str, project_ids: Sequence[str], known_at: datetime
) -> dict[str, list[KnownIssue]]:
    """The issues of each project open (assigned or accepted) as known at `known_at`, by issue id."""
    return await _open_as_known(conn, schema, ISSUES, project_ids, known_at)


async def open_orders_as_known(
    conn: asyncpg.Connection, schema: str, project_ids: Sequence[str], known_at: datetime
) -> dict[str, list[KnownOrder]]:
    """The 督办 orders on each project or one of its issues not yet closed as known at `known_at`, by order id."""
    return await _open_as_known(conn, schema, ORDERS, project_ids, known_at)


async def _open_as_known(
    conn: asyncpg.Connection, schema: str, ledger: Ledger[K], project_ids: Sequence[str], known_at: datetime
) -> dict[str, list[K]]:
    # The project of an issue or order is set when it begins and never changes: the current column selects.
    rows = await conn.fetch(
        f"SELECT r.id, r.state, later.{ledger.key} IS NOT NULL AS changed_later FROM {schema}.{ledger.rows} r"
        f" LEFT JOIN (SELECT DISTINCT {ledger.key} FROM {schema}.{ledger.steps} WHERE recorded_at > $2) later"
        f" ON later.{ledger.key} = r.id"
        f" WHERE r.project_id = ANY($1::text[]) AND ({ledger.open_now} OR later.{ledger.key} IS NOT NULL)",
        list(project_ids), known_at,
    )  # fmt: skip
    states: dict[str, K | None] = {r["id"]: ledger.model.model_validate_json(r["state"]) for r in rows}
    changed = [r["id"] for r in rows if r["changed_later"]]
    if changed:
        states.update(await _folded(conn, schema, ledger, changed, known_at, states))
    found: dict[str, list[K]] = {}
    for state_id in sorted(states):
        state = states[state_id]
        if state is not None and state.open and state.project_id is not None:
            found.setdefault(state.project_id, []).append(state)
    return found


async def _folded(
    conn: asyncpg.Connection,
    schema: str,
    ledger: Ledger[K],
    ids: list[str],
    known_at: datetime,
    current: dict[str, K | None],
) -> dict[str, K | None]:
    """Each of `ids` folded from its steps recorded by `known_at` (None: it did not exist yet then)."""
    rows = await conn.fetch(
        f"SELECT {ledger.key} AS id, type, recorded_at, payload FROM {schema}.{ledger.steps}"
        f" WHERE {ledger.key} = ANY($1::text[]) ORDER BY {ledger.key}, seq",
        ids,
    )
    steps: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        steps.setdefault(r["id"], []).append(r)
    folded: dict[str, K | None] = {}
    for state_id, its_steps in steps.items():
        if its_steps[0]["type"] not in ledger.begins:
            # Its first steps were folded before the ledger was kept: the current row stands, as it did before
            # (a rebuild of the read model fills the ledger in).
            folded[state_id] = current[state_id]
            continue
        state: K | None = None
        for r in its_steps:
            if r["recorded_at"] > known_at:
                break  # what was known then is a beginning of its history, never a step without the one before
            payload = CATALOGUE.entry(r["type"]).model.model_validate(json.loads(r["payload"]))
            state = ledger.step(state, state_id, r["recorded_at"], payload)
        folded[state_id] = state
    return folded
