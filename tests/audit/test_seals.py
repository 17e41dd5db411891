"""Seals over the real log (docs/adr/0030): hq seals on demand, the timer seals once per period across two
replicas, and every inclusion and consistency proof the service gives is checked by the tests' own RFC 6962
implementation (rfc6962_reference.py), the signatures with the published public key."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest

from services.audit.timers import SEAL_TIMER
from shared.catalogue.audit import SEAL_AGGREGATE, SEAL_CHAIN_ID
from tests.audit import rfc6962_reference as ref
from tests.audit.conftest import Audited
from tests.audit.seal_helpers import event_hash, key_env, signature_ok
from tests.platform import running, runtime_of


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(*key_env())


async def seal_now(a: Audited, expect: int = 201) -> dict[str, Any]:
    r = await a.audit.post("/v1/audit/seals", headers=a.h("hq"))
    assert r.status_code == expect, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def leaves(a: Audited, size: int) -> list[bytes]:
    """The log's first `size` event hashes, recomputed from the stored bytes (not taken from the service)."""
    found = []
    for seq in range(1, size + 1):
        msg = await a.audit_rt.store.js.get_msg(a.settings.stream, seq=seq, direct=True)
        assert msg.data is not None
        found.append(event_hash(msg.data))
    return found


async def test_hq_seals_on_demand_and_every_proof_checks_out(audited: Audited) -> None:
    a = audited
    await a.project(name="一号项目")
    first = await seal_now(a)
    assert (await seal_now(a, expect=200))["seal"] == first["seal"]  # nothing new since: the same seal
    # The auditor may not seal; its refused request is itself recorded (an access record, docs/adr/0033).
    refused = await a.audit.post("/v1/audit/seals", headers=a.h("auditor"))
    assert refused.status_code == 403, refused.text
    await a.project(name="二号项目")
    await a.project(name="三号项目")
    second = await seal_now(a)
    s1, s2 = first["seal"], second["seal"]
    assert s2["seal_number"] == s1["seal_number"] + 1 and s2["tree_size"] > first["seq"] >= s1["tree_size"]
    assert s1["trigger"] == "on_demand"

    keys = await a.get("/v1/audit/public-key")
    published = {k["key_id"]: k["public_key"] for k in keys["keys"]}
    assert keys["current_key_id"] == s2["key_id"]
    assert signature_ok(published[s1["key_id"]], s1) and signature_ok(published[s2["key_id"]], s2)
    assert not signature_ok(published[s2["key_id"]], {**s2, "tree_size": s2["tree_size"] - 1})

    log = await leaves(a, s2["tree_size"])
    assert bytes.fromhex(s2["root_hash"]) == ref.mth(log)
    assert bytes.fromhex(s1["root_hash"]) == ref.mth(log[: s1["tree_size"]])
    for seq in range(1, s2["tree_size"] + 1):
        proof = await a.get(f"/v1/audit/seals/{s2['seal_number']}/inclusion", seq=seq)
        assert proof["event_hash"] == log[seq - 1].hex() and proof["leaf_index"] == seq - 1
        path = [bytes.fromhex(p) for p in proof["proof"]]
        assert ref.root_from_path(seq - 1, s2["tree_size"], log[seq - 1], path) == bytes.fromhex(s2["root_hash"])
    consistency = await a.get("/v1/audit/seals/consistency", first=s1["seal_number"], second=s2["seal_number"])
    old, new = ref.roots_from_proof(s1["tree_size"], s2["tree_size"], bytes.fromhex(s1["root_hash"]),
                                    [bytes.fromhex(p) for p in consistency["proof"]])  # fmt: skip
    assert (old.hex(), new.hex()) == (s1["root_hash"], s2["root_hash"])

    listed = await a.get("/v1/audit/seals", limit=100)
    assert [s["seal"]["seal_number"] for s in listed["items"]][-2:] == [s1["seal_number"], s2["seal_number"]]
    assert (await a.get(f"/v1/audit/seals/{s2['seal_number']}"))["seal"] == s2


async def test_bad_proof_requests_name_the_field(audited: Audited) -> None:
    a = audited
    await a.project(name="校验项目")  # something the timer's seal at start did not cover: hq's seal is a new one
    made = (await seal_now(a))["seal"]
    n, size = made["seal_number"], made["tree_size"]
    cases = [
        (f"/v1/audit/seals/{n}/inclusion", {"seq": size + 1}, 422, "seq"),
        (f"/v1/audit/seals/{n}/inclusion", {"seq": 0}, 422, "seq"),
        (f"/v1/audit/seals/{n + 5}/inclusion", {"seq": 1}, 404, "n"),
        ("/v1/audit/seals/consistency", {"first": n, "second": n - 1 if n > 1 else 0}, 422, "second"),
        ("/v1/audit/seals/consistency", {"first": n, "second": n + 9}, 404, "second"),
        ("/v1/audit/exports", {}, 422, "programme_id"),
        ("/v1/audit/exports", {"programme_id": "prog", "project_id": "p1"}, 422, "project_id"),
    ]
    for path, params, status, field in cases:
        r = await a.audit.get(path, params=params, headers=a.h("auditor"))
        assert r.status_code == status, (path, params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"].split(".")[-1] for e in r.json()["errors"]}, r.text
    r = await a.audit.get("/v1/audit/seals", headers=a.h("unit-a"))
    assert r.status_code == 403


async def seals_with(a: Audited, trigger: str) -> list[dict[str, Any]]:
    events = await a.audit_rt.store.read_aggregate(SEAL_AGGREGATE, SEAL_CHAIN_ID)
    return [e.envelope.payload for e in events if e.envelope.payload["trigger"] == trigger]


async def test_the_timer_seals_each_period_once_across_two_replicas(audited: Audited) -> None:
    a = audited
    await a.project(name="定时封存项目")
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(second := a.audit_app("audit-2")))
        rts = [a.audit_rt, runtime_of(second)]
        for _ in range(2):
            a.clock.advance(timedelta(minutes=5))
            due = a.audit_rt.settings.schedule(SEAL_TIMER).due(a.clock.now()).label
            for _ in range(3):  # both replicas look again and again: still one seal for the period
                for rt in rts:
                    assert rt.timers is not None
                    rt.timers.wake()
                await a.timer_period_done()
            made = await seals_with(a, f"timer:{due}")
            assert len(made) == 1, made
            await a.project(name=f"{due} 之后的项目")  # something new for the next period to seal
        ran = [run for rt in rts for run in rt.timers.runs if run[0] == SEAL_TIMER] if all(rt.timers for rt in rts) \
            else []  # fmt: skip
        assert len({label for _, label in ran}) == len(ran)  # no period ran twice, on either replica


async def test_the_stored_tree_is_a_cache_checked_against_the_seal(audited: Audited) -> None:
    """Dropped, the tree is grown again from the log; damaged, it yields no proof (409), never a wrong one."""
    a = audited
    await a.project(name="缓存项目")
    made = (await seal_now(a))["seal"]
    n, size = made["seal_number"], made["tree_size"]
    schema = a.audit_rt.schema
    async with a.audit_rt.pool.acquire() as conn:
        await conn.execute(f"DELETE FROM {schema}.merkle_nodes; DELETE FROM {schema}.merkle_frontier")
    proof = await a.get(f"/v1/audit/seals/{n}/inclusion", seq=size)
    log = await leaves(a, size)
    path = [bytes.fromhex(p) for p in proof["proof"]]
    assert ref.root_from_path(size - 1, size, log[-1], path) == bytes.fromhex(made["root_hash"])

    async with a.audit_rt.pool.acquire() as conn:
        await conn.execute(f"UPDATE {schema}.merkle_frontier SET nodes = array[sha256('forged')] WHERE size = $1", size)
    r = await a.audit.get(f"/v1/audit/seals/{n}/inclusion", params={"seq": 1}, headers=a.h("auditor"))
    assert r.status_code == 409 and f"#{n}" in r.json()["detail"], r.text
