"""A programme's history bundle from the real service, verified offline by tools/verify_bundle.py run as its own
process (as an auditor runs it), then tampered with in every way issue 11 lists: each tamper is caught, and the
verifier's line names the break (which event, which aggregate and version, which seal, what failed)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.signing import key_id_of, raw_public
from tests.audit.conftest import Audited
from tests.audit.seal_helpers import key_env, resign

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_bundle.py"
Bundle = dict[str, Any]


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(*key_env())


def verify(bundle: Bundle, folder: Path, *extra: str) -> tuple[int, str]:
    path = folder / "bundle.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    # Run apart from the repository: the verifier needs the bundle, the standard library, rfc8785 and cryptography.
    done = subprocess.run([sys.executable, str(VERIFIER), str(path), *extra], capture_output=True, text=True,
                          cwd=folder, env={"PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def doc(event: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(event["stored"])
    return parsed


def events_of(bundle: Bundle, aggregate_id: str) -> list[int]:
    """Indexes into bundle["events"] of one aggregate's events, in order."""
    return [i for i, e in enumerate(bundle["events"]) if doc(e)["aggregate_id"] == aggregate_id]


def rehash(envelope: dict[str, Any]) -> str:
    unsigned = {k: v for k, v in envelope.items() if k != "hash"}
    return hashlib.sha256(rfc8785.dumps(unsigned)).hexdigest()


def edited_byte(b: Bundle) -> None:
    i = events_of(b, "p1")[1]
    stored = b["events"][i]["stored"]
    at = stored.index("东区")  # one character of the amended location
    b["events"][i]["stored"] = stored[:at] + "西" + stored[at + 1 :]


def dropped_last_event(b: Bundle) -> None:
    del b["events"][events_of(b, "p2")[-1]]  # the aggregate's newest event: its chain alone cannot tell


def missing_middle_event(b: Bundle) -> None:
    del b["events"][events_of(b, "p1")[1]]


def swapped(b: Bundle) -> None:
    i, j = events_of(b, "p1")[1:3]
    b["events"][i], b["events"][j] = b["events"][j], b["events"][i]


def swapped_with_sequences(b: Bundle) -> None:
    """Two events trade places and sequence numbers, so the list still looks in stream order."""
    i, j = events_of(b, "p1")[1:3]
    first, second = b["events"][i], b["events"][j]
    first["seq"], second["seq"] = second["seq"], first["seq"]
    b["events"][i], b["events"][j] = second, first


def appended_after_sealing(b: Bundle) -> None:
    last = b["events"][events_of(b, "p1")[-1]]
    envelope = doc(last)
    forged = {**envelope, "id": "00000000-0000-4000-8000-000000000001", "version": envelope["version"] + 1,
              "prev_hash": envelope["hash"], "payload": {**envelope["payload"], "location": "伪造区"}}  # fmt: skip
    forged["hash"] = rehash(forged)
    b["events"].append({"seq": b["seals"][-1]["tree_size"] + 1, "subject": last["subject"],
                        "stored": json.dumps(forged, ensure_ascii=False), "inclusion": last["inclusion"]})  # fmt: skip


def resigned_seal(b: Bundle) -> None:
    b["seals"][0] = resign(b["seals"][0], Ed25519PrivateKey.generate())


def resigned_everything(b: Bundle) -> None:
    """A forger's own key throughout: the bundle then agrees with itself; only the published key tells."""
    forger = Ed25519PrivateKey.generate()
    raw = raw_public(forger.public_key())
    key_id = key_id_of(raw)
    b["public_keys"] = [{"key_id": key_id, "algorithm": "Ed25519", "public_key": base64.b64encode(raw).decode()}]
    b["seals"] = [resign({**s, "key_id": key_id}, forger) for s in b["seals"]]
    b["manifest"]["key_id"] = key_id
    b["manifest_signature"] = base64.b64encode(forger.sign(rfc8785.dumps(b["manifest"]))).decode()


async def sealed_programme(a: Audited) -> tuple[Bundle, str]:
    """A programme with two projects, amended between two seals; its bundle and the published public key."""
    for pid in ("p1", "p2"):
        await a.project(id=pid, name=f"项目{pid}")
    r = await a.intake.patch("/v1/projects/p1", json={"location": "东区一号"}, headers=a.h("hq"))
    assert r.status_code == 200, r.text
    assert (await a.audit.post("/v1/audit/seals", headers=a.h("hq"))).status_code == 201
    for pid, where in (("p1", "东区二号"), ("p2", "北区"), ("p1", "东区三号")):
        r = await a.intake.patch(f"/v1/projects/{pid}", json={"location": where}, headers=a.h("hq"))
        assert r.status_code == 200, r.text
    await a.synced()
    assert (await a.audit.post("/v1/audit/seals", headers=a.h("hq"))).status_code == 201
    await a.synced()
    r = await a.audit.get("/v1/audit/exports", params={"programme_id": "prog"}, headers=a.h("auditor"))
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    keys = await a.get("/v1/audit/public-key")
    return r.json(), keys["keys"][0]["public_key"]


TAMPERS: list[tuple[str, Callable[[Bundle], None], str]] = [
    ("an edited byte", edited_byte, "project/p1 version 2, ProjectDetailsAmended): its content does not hash"),
    ("a dropped event", dropped_last_event, "(project/p2 version 2, hash "),
    ("two events swapped", swapped, "the events are not in stream order"),
    ("two events swapped with their sequences", swapped_with_sequences, "project/p1 version 3, ProjectDetailsAmended)"),
    ("an event appended after sealing", appended_after_sealing, "not covered by the newest seal"),
    ("a seal re-signed with another key", resigned_seal, "the Ed25519 signature does not verify with key"),
    ("an aggregate's middle event missing", missing_middle_event, "project/p1 version 2 missing between seq"),
]


async def test_every_tamper_is_caught_and_named(audited: Audited, tmp_path: Path) -> None:
    bundle, public_key = await sealed_programme(audited)
    assert len(bundle["seals"]) >= 2 and len(bundle["consistency"]) == len(bundle["seals"]) - 1
    assert {doc(e)["aggregate_id"] for e in bundle["events"]} >= {"prog", "p1", "p2"}
    assert [doc(bundle["events"][i])["version"] for i in events_of(bundle, "p1")] == [1, 2, 3, 4]

    code, out = verify(bundle, tmp_path, "--trusted-key", public_key)
    assert code == 0 and out.startswith("OK: "), out

    for name, tamper, expected in TAMPERS:
        tampered = copy.deepcopy(bundle)
        tamper(tampered)
        code, out = verify(tampered, tmp_path)
        assert code == 1 and out.startswith("BROKEN: ") and expected in out, (name, out)

    r = await audited.audit.get("/v1/audit/exports", params={"project_id": "p2"}, headers=audited.h("auditor"))
    one = r.json()
    assert one["manifest"]["scope"]["project_id"] == "p2"
    assert {doc(e)["aggregate_id"] for e in one["events"]} == {"p2", "hq"}  # hq acted on it: its organisation too
    assert verify(one, tmp_path, "--trusted-key", public_key)[0] == 0

    forged = copy.deepcopy(bundle)
    resigned_everything(forged)
    assert verify(forged, tmp_path)[0] == 0  # consistent in itself: without the published key, nothing to tell
    code, out = verify(forged, tmp_path, "--trusted-key", public_key)
    assert code == 1 and "is not one of the trusted keys" in out, out


async def test_a_period_bundle_verifies_and_its_chains_may_start_mid_way(audited: Audited, tmp_path: Path) -> None:
    a = audited
    await a.project(id="p1", name="项目p1")
    a.clock.advance(timedelta(days=1))
    since = a.clock.now()
    r = await a.intake.patch("/v1/projects/p1", json={"location": "南区"}, headers=a.h("hq"))
    assert r.status_code == 200, r.text
    await a.synced()
    assert (await a.audit.post("/v1/audit/seals", headers=a.h("hq"))).status_code == 201
    await a.synced()
    r = await a.audit.get("/v1/audit/exports", params={"recorded_from": since.isoformat()}, headers=a.h("auditor"))
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["manifest"]["complete_histories"] is False
    assert [doc(e)["version"] for e in bundle["events"] if doc(e)["aggregate_id"] == "p1"] == [2]
    code, out = verify(bundle, tmp_path)
    assert code == 0, out
    bundle["manifest"]["complete_histories"] = True  # the claim is signed: changing it is a tamper too
    code, out = verify(bundle, tmp_path)
    assert code == 1 and "export manifest" in out, out
