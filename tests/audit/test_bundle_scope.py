"""What a programme's or a project's bundle holds (docs/audit.md §6.2), from the real service: its own aggregates as
whole chains, the events of mixed aggregates that concern it one by one with their inclusion proofs, the rules its
lights were decided under and the organisations that acted, whole; nothing of another programme. Verified offline
by tools/verify_bundle.py as its own process, then tampered with where the new parts could be attacked."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from services.audit import bundle
from services.audit.bundle_scope import DEPENDS_ON
from shared.catalogue.registry import CATALOGUE
from shared.catalogue.scheduling import (
    Colour,
    DimensionLight,
    MonitoringCompleted,
    PlanBaselineApproved,
    PlanDrafted,
    ReportOverdueFlagged,
    Rules,
    RuleVersionPublished,
    StatusLightChanged,
)  # fmt: skip
from shared.eventstore import Position
from tests.audit import rfc6962_reference as reference
from tests.audit.conftest import Audited
from tests.audit.seal_helpers import event_hash, key_env
from tests.audit.test_bundle_tamper import Bundle, doc, verify
from tests.platform import SYSTEM_CTX

DAY, NEXT_DAY = "2024-01-02", "2024-01-03"
NO_MONEY = [Decimal(0)] * 12


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(*key_env())


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three events per round, so that every bundle here is written in several batches (the streaming path)."""
    monkeypatch.setattr(bundle, "BATCH", 3)


async def append(a: Audited, aggregate_type: str, aggregate_id: str, *payloads: BaseModel) -> None:
    """Events of the scheduling service, appended to the real log as scheduling appends them."""
    position = Position()
    for payload in payloads:
        stored = await a.intake_rt.store.append(aggregate_type, aggregate_id, payload, expected=position,
                                                context=SYSTEM_CTX)  # fmt: skip
        position = position.after(stored)


def light(project_id: str) -> StatusLightChanged:
    green = DimensionLight(colour=Colour.GREEN)
    return StatusLightChanged(project_id=project_id, as_of=DAY, colour=Colour.GREEN, milestones=green,
                              investment=green, reporting=green, rule_version=1)  # fmt: skip


def flag(project_id: str) -> ReportOverdueFlagged:
    return ReportOverdueFlagged(day=DAY, project_id=project_id, unit_id="unit-a", last_period_end=None, days_since=9)


async def two_programmes(a: Audited) -> tuple[Bundle, str]:
    """prog (p1, p2) and other (p3); a rule version, p1's light and plan (its baseline names no project), one day's
    monitoring flagging p1 and p3 and the next day's flagging p1 alone (its summary names nobody); sealed."""
    r = await a.intake.post("/v1/programmes", json={"id": "other", "name": "另一计划", "year": 2024}, headers=a.h("hq"))
    assert r.status_code == 201, r.text
    for pid, programme in (("p1", "prog"), ("p2", "prog"), ("p3", "other")):
        await a.project(id=pid, name=f"项目{pid}", programme_id=programme)
    await append(a, "rule_set", "default", RuleVersionPublished(version=1, effective_from=DAY, rules=Rules()))
    await append(a, "light", "p1", light("p1"))
    await append(a, "monitoring", DAY, flag("p1"), flag("p3"), MonitoringCompleted(day=DAY, items=2, lights_changed=1))
    await append(a, "monitoring", NEXT_DAY, flag("p1"), MonitoringCompleted(day=NEXT_DAY, items=1, lights_changed=0))
    await append(a, "plan", "plan-p1", PlanDrafted(project_id="p1", year=2024, annual_target_investment=Decimal(4000),
                                                   monthly_investment=NO_MONEY),
                 PlanBaselineApproved(milestone_dates={}, monthly_investment=NO_MONEY))  # fmt: skip
    await a.synced()
    assert (await a.audit.post("/v1/audit/seals", headers=a.h("hq"))).status_code == 201
    await a.synced()
    key = (await a.get("/v1/audit/public-key"))["keys"][0]["public_key"]
    return await export(a, programme_id="prog"), key


async def export(a: Audited, **params: str) -> Bundle:
    r = await a.audit.get("/v1/audit/exports", params=params, headers=a.h("auditor"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json") and "attachment" in r.headers["content-disposition"]
    answer: Bundle = r.json()
    return answer


def declared(b: Bundle) -> dict[str, tuple[str, str, int]]:
    """type/id -> (reason, mode, events) as the manifest states it."""
    return {f"{x['aggregate_type']}/{x['aggregate_id']}": (x["reason"], x["mode"], x["events"])
            for x in b["manifest"]["aggregates"]}  # fmt: skip


def index_of(b: Bundle, aggregate_type: str, aggregate_id: str) -> int:
    [i] = [i for i, e in enumerate(b["events"]) if (doc(e)["aggregate_type"], doc(e)["aggregate_id"])
           == (aggregate_type, aggregate_id)]  # fmt: skip
    return i


async def test_a_programme_bundle_holds_what_concerns_it_and_nothing_else(audited: Audited, tmp_path: Path) -> None:
    b, key = await two_programmes(audited)
    aggregates = declared(b)
    assert b["format"] == "tiaodu-history-bundle/2" and b["manifest"]["projects"] == ["p1", "p2"]
    for own in ("programme/prog", "project/p1", "project/p2", "light/p1"):
        assert aggregates[own][:2] == ("scope", "chain"), own
    # The day's monitoring mixes programmes: only p1's flag, alone, proved by its inclusion in the seal.
    assert aggregates[f"monitoring/{DAY}"] == ("scope", "events", 1)
    [flagged] = [doc(e) for e in b["events"] if doc(e)["aggregate_id"] == DAY]
    assert flagged["payload"]["project_id"] == "p1" and flagged["version"] == 1
    # Every event of these names p1 or nobody: the scope's whole, events that name nobody included.
    assert aggregates["plan/plan-p1"] == ("scope", "chain", 2)
    assert aggregates[f"monitoring/{NEXT_DAY}"] == ("scope", "chain", 2)
    assert aggregates["rule_set/default"] == ("rules", "chain", 1)  # p1's light names rule version 1
    assert aggregates["organisation/hq"][:2] == ("actor", "chain")  # hq registered the projects
    assert not [k for k in aggregates if "p3" in k or "other" in k]
    assert "p3" not in json.dumps([doc(e)["payload"] for e in b["events"]])
    listing = [[e["seq"], doc(e)["hash"], doc(e)["aggregate_type"], doc(e)["aggregate_id"], doc(e)["version"]]
               for e in b["events"]]  # fmt: skip
    assert b["listing"] == listing and b["manifest"]["events"] == len(listing)

    # The mixed aggregate's event, checked by the tests' own RFC 6962 code against the signed root.
    event = b["events"][index_of(b, "monitoring", DAY)]
    newest = b["seals"][-1]
    root = reference.root_from_path(event["seq"] - 1, newest["tree_size"], event_hash(event["stored"].encode()),
                                    [bytes.fromhex(p) for p in event["inclusion"]])  # fmt: skip
    assert root.hex() == newest["root_hash"]

    code, out = verify(b, tmp_path, "--trusted-key", key)
    assert code == 0 and out.startswith("OK: ") and "with single events" in out, out

    one = await export(audited, project_id="p3")
    assert declared(one)[f"monitoring/{DAY}"] == ("scope", "events", 1)
    assert {doc(e)["aggregate_id"] for e in one["events"]} == {"p3", DAY, "hq"}  # no rules: p3 has no light
    assert verify(one, tmp_path, "--trusted-key", key)[0] == 0


def edited_flag(b: Bundle) -> None:
    event = b["events"][index_of(b, "monitoring", DAY)]
    event["stored"] = event["stored"].replace('"days_since":9', '"days_since":1')


def dropped_flag(b: Bundle) -> None:
    del b["events"][index_of(b, "monitoring", DAY)]


def dropped_flag_and_its_listing(b: Bundle) -> None:
    i = index_of(b, "monitoring", DAY)
    b["listing"] = [x for x in b["listing"] if x[0] != b["events"][i]["seq"]]
    del b["events"][i]


def flag_proved_by_another_path(b: Bundle) -> None:
    """Its audit path's first node replaced by the light's leaf: the right length, leading elsewhere."""
    event = b["events"][index_of(b, "monitoring", DAY)]
    event["inclusion"][0] = doc(b["events"][index_of(b, "light", "p1")])["hash"]


def chain_declared_events(b: Bundle) -> None:
    for entry in b["manifest"]["aggregates"]:
        if entry["aggregate_id"] == "p1":
            entry["mode"] = "events"


def dropped_rules(b: Bundle) -> None:
    del b["events"][index_of(b, "rule_set", "default")]


TAMPERS: list[tuple[str, Any, str]] = [
    ("a mixed aggregate's event edited", edited_flag,
     f"(monitoring/{DAY} version 1, ReportOverdueFlagged): its content does not hash"),
    ("a mixed aggregate's event dropped", dropped_flag, f"(monitoring/{DAY} version 1, hash "),
    ("an event dropped with its listing entry", dropped_flag_and_its_listing,
     "the listing is not the one the signed manifest commits to"),
    ("an inclusion proof of another event", flag_proved_by_another_path,
     f"(monitoring/{DAY} version 1, ReportOverdueFlagged): its inclusion proof does not lead to the root"),
    ("a chain declared as single events", chain_declared_events, "the export manifest: the Ed25519 signature"),
    ("the rules left out", dropped_rules, "(rule_set/default version 1, hash "),
]  # fmt: skip


async def test_tampering_with_the_scope_is_caught_and_named(audited: Audited, tmp_path: Path) -> None:
    b, key = await two_programmes(audited)
    for name, tamper, expected in TAMPERS:
        tampered = copy.deepcopy(b)
        tamper(tampered)
        code, out = verify(tampered, tmp_path, "--trusted-key", key)
        assert code == 1 and out.startswith("BROKEN: ") and expected in out, (name, out)

    # A genuine, sealed event of another programme slipped in (hash and proof hold): not an aggregate of the scope.
    foreign = next(e for e in (await export(audited, project_id="p3"))["events"] if doc(e)["aggregate_id"] == "p3")
    tampered = copy.deepcopy(b)
    tampered["events"] = sorted([*tampered["events"], foreign], key=lambda e: e["seq"])
    code, out = verify(tampered, tmp_path, "--trusted-key", key)
    assert code == 1 and "project/p3 is not an aggregate the manifest names" in out, out


def test_every_rule_and_calendar_version_an_event_names_is_a_dependency() -> None:
    """A payload member naming a version of rules or of a calendar, on any event type of the catalogue, is in
    DEPENDS_ON: a new one fails here until the bundle knows which rules it names."""

    def members(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
        found: set[str] = set()
        stack = [schema]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            if "$ref" in node:
                stack.append(defs[node["$ref"].rsplit("/", 1)[-1]])
            for name, sub in node.get("properties", {}).items():
                found.add(name)
                stack.append(sub)
            stack += [node.get("items"), *node.get("anyOf", []), *node.get("allOf", [])]
        return found

    named = set()
    for name in CATALOGUE.names():
        entry = CATALOGUE.entry(name)
        schema = entry.model.model_json_schema()
        for member in members(schema, schema.get("$defs", {})):
            if member.endswith(("rule_version", "calendar_version")):
                named |= {(aggregate, member) for aggregate in {entry.aggregate_type, *entry.also_on}}
    assert named and named <= set(DEPENDS_ON), sorted(named - set(DEPENDS_ON))


async def test_a_programme_period_keeps_whole_chains_whole_and_starts_them_mid_way(
    audited: Audited, tmp_path: Path
) -> None:
    a = audited
    await two_programmes(a)
    a.clock.advance(timedelta(days=1))
    since = a.clock.now()
    for pid in ("p1", "p3"):
        r = await a.intake.patch(f"/v1/projects/{pid}", json={"location": "南区"}, headers=a.h("hq"))
        assert r.status_code == 200, r.text
    await a.synced()
    assert (await a.audit.post("/v1/audit/seals", headers=a.h("hq"))).status_code == 201
    await a.synced()
    b = await export(a, programme_id="prog", recorded_from=since.isoformat())
    entries = {f"{x['aggregate_type']}/{x['aggregate_id']}": x for x in b["manifest"]["aggregates"]}
    assert b["manifest"]["complete_histories"] is False
    assert (entries["project/p1"]["mode"], entries["project/p1"]["first_version"]) == ("chain", 2)
    assert entries["organisation/hq"]["first_version"] == 1  # who acted: whole, whatever the period
    assert not [k for k in entries if k.startswith(("project/p2", "project/p3", "light/", "monitoring/"))]
    code, out = verify(b, tmp_path)
    assert code == 0, out
