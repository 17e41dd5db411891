"""Which events a history bundle holds, and how each aggregate is to be checked (docs/audit.md §6.1).

An event *concerns* a programme or project scope when it is on one of the scope's own aggregates (the programme, its
projects) or its payload names one of the scope's projects (`project_id`, or a `project_ids` list, at any depth) or
the programme (`programme_id`, at any depth). An event that names no project and no programme at all is *neutral*
(a plan's baseline, an issue's assignment, a meeting's minutes); one that names only others is *another scope's*.
An aggregate with an event that concerns the scope is:
- exported as a **chain** when none of its events up to the seal is another scope's (a project, its plan, its
  lights, its issues): all its events, neutral ones included; the verifier checks its versions, links and (without a
  period) its start at version 1;
- exported as **events** when some are (a day's monitoring run, an inbox, an auditor's day of reads, a project code
  later claimed by another project): only the events that concern the scope, each proved on its own by its
  inclusion proof against the seal, without the rest of its chain (which belongs to other scopes).
The versioned rules and calendars those events were decided under (`DEPENDS_ON`) and the organisations that acted
on them are exported whole, as chains from version 1 (a light names its rule version; the auditor needs the rule).

The selection is made in a temporary table of the export's transaction, so that a programme of hundreds of
thousands of events is chosen, summarised and read back in batches without holding it in the process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

EVENT_INDEX = "event_index"
SELECTION = "bundle_selection"  # a temporary table, dropped when the export's transaction ends

# $2: {"projects": [...], "programme": ...}. Lax mode unwraps lists, so `project_ids` matches any of its members.
CONCERNS = (
    "jsonb_path_exists(e.payload, 'lax $.**.project_id ? (@ == $projects[*])', $2::jsonb)"
    " OR jsonb_path_exists(e.payload, 'lax $.**.project_ids ? (@ == $projects[*])', $2::jsonb)"
    " OR jsonb_path_exists(e.payload, 'lax $.**.programme_id ? (@ == $programme)', $2::jsonb)"
)

# An event that names some project or programme (then, if not in the selection, another scope's).
NAMES_ANY = (
    "jsonb_path_exists(e.payload, 'lax $.**.project_id ? (@ != null)')"
    " OR jsonb_path_exists(e.payload, 'lax $.**.project_ids ? (@ != null)')"
    " OR jsonb_path_exists(e.payload, 'lax $.**.programme_id ? (@ != null)')"
)

# (aggregate type of an event, payload member at any depth) -> the aggregate type of the versioned rules (or
# calendar) that member names a version of. tests/audit/test_bundle_scope.py checks this against the catalogue:
# every payload member ending in `rule_version` or `calendar_version` is here.
DEPENDS_ON: dict[tuple[str, str], str] = {
    ("light", "rule_version"): "rule_set",
    ("issue", "rule_version"): "issue_rule_set",
    ("issue", "calendar_version"): "work_calendar",
    ("supervision_order", "rule_version"): "issue_rule_set",
    ("supervision_order", "calendar_version"): "work_calendar",
    ("year_end_evaluation", "rule_version"): "evaluation_rule_set",
    ("year_end_evaluation", "reporting_rule_version"): "rule_set",
    ("inbox", "rule_version"): "routing_rule_set",
}
ACTOR_AGGREGATE = "organisation"  # who acted: an envelope's actor.org_id names one


@dataclass(frozen=True)
class Scope:
    programme_id: str | None = None
    project_id: str | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None

    @property
    def complete_histories(self) -> bool:
        """No period given: every chain starts at version 1 (the verifier insists)."""
        return self.recorded_from is None and self.recorded_to is None

    @property
    def period_only(self) -> bool:
        return self.programme_id is None and self.project_id is None

    def document(self) -> dict[str, Any]:
        return {
            "programme_id": self.programme_id,
            "project_id": self.project_id,
            "recorded_from": self.recorded_from.isoformat() if self.recorded_from else None,
            "recorded_to": self.recorded_to.isoformat() if self.recorded_to else None,
        }


@dataclass(frozen=True)
class AggregateEntry:
    """One aggregate of the bundle as the manifest states it."""

    aggregate_type: str
    aggregate_id: str
    reason: str  # scope | rules | actor
    mode: str  # chain | events
    first_version: int
    last_version: int
    events: int

    def document(self) -> dict[str, Any]:
        return {
            "aggregate_type": self.aggregate_type, "aggregate_id": self.aggregate_id, "reason": self.reason,
            "mode": self.mode, "first_version": self.first_version, "last_version": self.last_version,
            "events": self.events,
        }  # fmt: skip


@dataclass(frozen=True)
class Selection:
    projects: list[str] | None  # the scope's projects as resolved (None: a period of the whole log)
    aggregates: list[AggregateEntry]

    @property
    def events(self) -> int:
        return sum(a.events for a in self.aggregates)


async def _projects(conn: asyncpg.Connection, schema: str, scope: Scope, until_seq: int) -> list[str]:
    if scope.project_id is not None:
        return [scope.project_id]
    rows = await conn.fetch(
        f"SELECT DISTINCT aggregate_id FROM {schema}.{EVENT_INDEX} WHERE type = 'ProjectRegistered'"
        " AND payload->>'programme_id' = $1 AND seq <= $2 ORDER BY aggregate_id",
        scope.programme_id, until_seq,
    )  # fmt: skip
    return [r["aggregate_id"] for r in rows]


def _period(scope: Scope, first_param: int) -> tuple[str, list[Any]]:
    """SQL true for an event recorded in the scope's period (always true without one)."""
    conditions, params = [], []
    if scope.recorded_from is not None:
        params.append(scope.recorded_from)
        conditions.append(f"e.recorded_at >= ${first_param + len(params) - 1}")
    if scope.recorded_to is not None:
        params.append(scope.recorded_to)
        conditions.append(f"e.recorded_at < ${first_param + len(params) - 1}")
    return (" AND ".join(conditions) or "true"), params


async def select(conn: asyncpg.Connection, schema: str, scope: Scope, until_seq: int) -> Selection:
    """Fill the temporary table `bundle_selection` (seq, aggregate, version, hash) with the bundle's events up to
    `until_seq`, and state each aggregate's reason and mode. Call inside a transaction: the table goes with it."""
    idx = f"{schema}.{EVENT_INDEX}"
    await conn.execute(
        f"CREATE TEMPORARY TABLE {SELECTION} (seq bigint PRIMARY KEY, aggregate_type text NOT NULL,"
        " aggregate_id text NOT NULL, version int NOT NULL, hash text NOT NULL, actor_org text NOT NULL,"
        " reason text NOT NULL, in_period bool NOT NULL) ON COMMIT DROP"
    )
    columns = "e.seq, e.aggregate_type, e.aggregate_id, e.version, e.hash, e.actor_org"
    projects: list[str] | None = None
    if scope.period_only:
        period, params = _period(scope, 2)
        await conn.execute(
            f"INSERT INTO {SELECTION} SELECT {columns}, 'scope', true FROM {idx} e WHERE e.seq <= $1 AND {period}",
            until_seq, *params,
        )  # fmt: skip
        mixed: set[tuple[str, str]] = set()
    else:
        projects = await _projects(conn, schema, scope, until_seq)
        own = [("project", p) for p in projects] + ([("programme", scope.programme_id)] if scope.programme_id else [])
        period, params = _period(scope, 5)
        # Every event up to the seal is weighed (an aggregate is mixed if any of its events is another scope's);
        # the period then chooses which of them are exported.
        await conn.execute(
            f"INSERT INTO {SELECTION} SELECT {columns}, 'scope', {period} FROM {idx} e WHERE e.seq <= $1 AND ("
            f"(e.aggregate_type, e.aggregate_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) OR {CONCERNS})",
            until_seq, json.dumps({"projects": projects, "programme": scope.programme_id or ""}),
            [t for t, _ in own], [i for _, i in own], *params,
        )  # fmt: skip
        # An aggregate with an event about another scope (naming other projects or programmes only) is mixed.
        rows = await conn.fetch(
            f"SELECT t.aggregate_type, t.aggregate_id FROM (SELECT DISTINCT aggregate_type, aggregate_id FROM"
            f" {SELECTION}) t WHERE EXISTS (SELECT 1 FROM {idx} e WHERE e.aggregate_type = t.aggregate_type"
            f" AND e.aggregate_id = t.aggregate_id AND e.seq <= $1 AND NOT EXISTS (SELECT 1 FROM {SELECTION} s"
            f" WHERE s.seq = e.seq) AND ({NAMES_ANY}))",
            until_seq,
        )  # fmt: skip
        mixed = {(r["aggregate_type"], r["aggregate_id"]) for r in rows}
        # The other aggregates are the scope's whole: their events that name nobody (a plan's baseline, an issue's
        # assignment, a meeting's minutes) belong with them.
        in_period, _ = _period(scope, 4)
        await conn.execute(
            f"INSERT INTO {SELECTION} SELECT {columns}, 'scope', {in_period}"
            f" FROM {idx} e JOIN (SELECT DISTINCT aggregate_type, aggregate_id FROM {SELECTION}) t"
            " ON e.aggregate_type = t.aggregate_type AND e.aggregate_id = t.aggregate_id"
            " WHERE e.seq <= $1 AND NOT (e.aggregate_type, e.aggregate_id) IN"
            " (SELECT * FROM unnest($2::text[], $3::text[])) ON CONFLICT (seq) DO NOTHING",
            until_seq, [t for t, _ in mixed], [i for _, i in mixed], *params,
        )  # fmt: skip
        await conn.execute(f"DELETE FROM {SELECTION} WHERE NOT in_period")
    await _add_dependencies(conn, idx, until_seq)
    return Selection(projects, await _entries(conn, scope, mixed))


async def _add_dependencies(conn: asyncpg.Connection, idx: str, until_seq: int) -> None:
    """The rules and calendars the selected events name a version of, and the organisations that acted: whole."""
    rule_types: set[str] = set()
    for (aggregate_type, member), rules in DEPENDS_ON.items():
        if rules in rule_types:
            continue
        named = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {SELECTION} s JOIN {idx} e ON e.seq = s.seq WHERE s.aggregate_type = $1"
            " AND jsonb_path_exists(e.payload, $2::jsonpath))",
            aggregate_type, f"lax $.**.{member} ? (@ != null)",
        )  # fmt: skip
        if named:
            rule_types.add(rules)
    orgs = [r["actor_org"] for r in await conn.fetch(f"SELECT DISTINCT actor_org FROM {SELECTION}")]
    for reason, condition, value in (
        ("rules", "e.aggregate_type = ANY($2::text[])", sorted(rule_types)),
        ("actor", f"e.aggregate_type = '{ACTOR_AGGREGATE}' AND e.aggregate_id = ANY($2::text[])", orgs),
    ):
        await conn.execute(
            f"INSERT INTO {SELECTION} SELECT e.seq, e.aggregate_type, e.aggregate_id, e.version, e.hash, e.actor_org,"
            f" $3, true FROM {idx} e WHERE e.seq <= $1 AND {condition}"
            " ON CONFLICT (seq) DO UPDATE SET reason = EXCLUDED.reason",
            until_seq, value, reason,
        )  # fmt: skip


async def _entries(conn: asyncpg.Connection, scope: Scope, mixed: set[tuple[str, str]]) -> list[AggregateEntry]:
    rows = await conn.fetch(
        f"SELECT aggregate_type, aggregate_id, max(reason) AS reason, count(*) AS n, min(version) AS first,"
        f" max(version) AS last FROM {SELECTION} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    entries = []
    for r in rows:
        # A chain must be whole between its first and last version (and start at 1 without a period): an aggregate
        # the index holds with a gap (an event its projection parked) is exported as events, each proved alone.
        contiguous = r["n"] == r["last"] - r["first"] + 1 and (r["first"] == 1 or not scope.complete_histories)
        whole = r["reason"] != "scope" or (r["aggregate_type"], r["aggregate_id"]) not in mixed
        mode = "chain" if whole and contiguous else "events"
        entries.append(AggregateEntry(r["aggregate_type"], r["aggregate_id"], r["reason"], mode, r["first"],
                                      r["last"], r["n"]))  # fmt: skip
    return entries
