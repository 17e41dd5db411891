"""National codes claimed under optimistic concurrency, against the real JetStream and PostgreSQL servers.

The read model lags, so a uniqueness check against it lets concurrent registrations with one code all pass; the
claim on the code's own subject lets exactly one through (docs/adr/0009-national-code-claims.md).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.intake import code_claims, handlers
from shared.catalogue.intake import ProjectCodeClaimed
from shared.eventstore import Position
from tests.intake.conftest import Intake
from tests.platform import SYSTEM_CTX, auth, new_key, project_body

CODE = "2024-410802-04-01-000777"
OTHER_CODE = "2024-410802-04-01-000888"


async def _projects_carrying(intake: Intake, code: str) -> list[str]:
    """Project ids whose registration or amendment put `code` on them, read from the log (not the read model)."""
    carrying = []
    async for chunk in intake.runtime.store.read_log():
        for _seq, subject, _data in chunk:
            if ".project." not in subject:
                continue
            aggregate_id = subject.rsplit(".", 1)[1]
            if aggregate_id in carrying:
                continue
            events = await intake.runtime.store.read_aggregate("project", aggregate_id)
            current = None
            for event in events:
                if "code" in event.envelope.payload and event.envelope.payload["code"] is not None:
                    current = event.envelope.payload["code"]
            if current == code:
                carrying.append(aggregate_id)
    return carrying


def _refused_for_code(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert [e["field"] for e in body["errors"]] == ["code"], body
    return body


async def test_ten_concurrent_registrations_with_one_code_exactly_one_wins(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    answers = await asyncio.gather(
        *[
            intake.client.post("/v1/projects", json=project_body(code=CODE, name=f"并发登记{i}"), headers=hq)
            for i in range(10)
        ]
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9, [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 201).json()["id"]
    for loser in (r for r in answers if r.status_code == 409):
        body = _refused_for_code(loser)
        assert body["holder"] == winner
        assert winner in body["detail"]
    assert await _projects_carrying(intake, CODE) == [winner]
    claims = await intake.runtime.store.read_aggregate("project_code", code_claims.claim_id(CODE, 2024))
    assert [e.envelope.payload["project_id"] for e in claims] == [winner]


async def test_an_amendment_racing_registrations_for_one_code_exactly_one_wins(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    winners: set[str] = set()
    for round_no in range(4):
        code = f"2024-410802-04-01-00010{round_no}"
        first = await intake.client.post("/v1/projects", json=project_body(name=f"待改代码{round_no}"), headers=hq)
        assert first.status_code == 201, first.text
        amended_id = first.json()["id"]
        amendment = intake.client.patch(f"/v1/projects/{amended_id}", json={"code": code}, headers=hq)
        registrations = [
            intake.client.post("/v1/projects", json=project_body(code=code, name=f"抢登{round_no}-{i}"), headers=hq)
            for i in range(5)
        ]
        answers = await asyncio.gather(amendment, *registrations)
        succeeded = [r for r in answers if r.status_code in (200, 201)]
        assert len(succeeded) == 1, [r.text for r in answers]
        holder = succeeded[0].json()["id"]
        for loser in (r for r in answers if r not in succeeded):
            assert _refused_for_code(loser)["holder"] == holder
        assert await _projects_carrying(intake, code) == [holder]
        winners.add("amendment" if holder == amended_id else "registration")
    # Not asserted to be both: who wins is the race's to decide; each round still had exactly one winner.
    assert winners


async def test_a_retry_with_the_same_key_answers_as_the_first_and_another_key_is_refused(intake: Intake) -> None:
    key = new_key()
    keyed = auth(intake.tokens["hq"], **{"Idempotency-Key": key})
    first = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=keyed)
    assert first.status_code == 201, first.text
    last = await intake.runtime.store.last_seq()
    retries = await asyncio.gather(
        *[intake.client.post("/v1/projects", json=project_body(code=CODE), headers=keyed) for _ in range(4)]
    )
    assert await intake.runtime.runner.wait_for(last, 5)
    later = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=keyed)
    for retry in (*retries, later):
        assert retry.status_code == 201, retry.text
        assert retry.json() == first.json()
    assert await intake.runtime.store.last_seq() == last
    other = await intake.client.post(
        "/v1/projects",
        json=project_body(code=CODE),
        headers=auth(intake.tokens["hq"], **{"Idempotency-Key": new_key()}),
    )
    assert _refused_for_code(other)["holder"] == first.json()["id"]


async def test_a_code_is_unique_per_programme_year_not_for_ever(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    for programme in (
        {"id": "prog-2024b", "name": "2024 另一计划", "year": 2024},
        {"id": "prog-2025", "name": "2025 三十工程", "year": 2025},
    ):
        r = await intake.client.post("/v1/programmes", json=programme, headers=hq)
        assert r.status_code == 201, r.text
    assert await intake.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 5)
    first = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=hq)
    assert first.status_code == 201, first.text
    same_year = await intake.client.post(
        "/v1/projects", json=project_body(code=CODE, programme_id="prog-2024b"), headers=hq
    )
    assert _refused_for_code(same_year)["holder"] == first.json()["id"]
    # A continuing project (续建) joins the next year's programme under the same code.
    next_year = await intake.client.post(
        "/v1/projects",
        json=project_body(code=CODE, programme_id="prog-2025", construction_type="continuing"),
        headers=hq,
    )
    assert next_year.status_code == 201, next_year.text


async def test_an_amendment_releases_the_code_it_gives_up_at_once(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    project = (await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=hq)).json()
    r = await intake.client.patch(f"/v1/projects/{project['id']}", json={"code": OTHER_CODE}, headers=hq)
    assert r.status_code == 200, r.text
    # No wait for the projection: the claims on the log decide, not the read model.
    taken = await intake.client.post("/v1/projects", json=project_body(code=OTHER_CODE), headers=hq)
    assert _refused_for_code(taken)["holder"] == project["id"]
    freed = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=hq)
    assert freed.status_code == 201, freed.text
    events = await intake.runtime.store.read_aggregate("project_code", code_claims.claim_id(CODE, 2024))
    assert [e.envelope.type for e in events] == ["ProjectCodeClaimed", "ProjectCodeReleased", "ProjectCodeClaimed"]
    # Keeping its own code is no claim at all.
    before = await intake.runtime.store.last_seq()
    r = await intake.client.patch(
        f"/v1/projects/{project['id']}", json={"code": OTHER_CODE, "name": "改名"}, headers=hq
    )
    assert r.status_code == 200 and r.json()["seq"] == before + 1


async def test_a_refused_amendment_claims_nothing(intake: Intake) -> None:
    project = (await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))).json()
    before = await intake.runtime.store.last_seq()
    other_unit = await intake.client.patch(
        f"/v1/projects/{project['id']}", json={"code": CODE}, headers=auth(intake.tokens["unit-b"])
    )
    bad_dates = await intake.client.patch(
        f"/v1/projects/{project['id']}",
        json={"code": CODE, "planned_completion": "2020-01-01"},
        headers=auth(intake.tokens["hq"]),
    )
    assert (other_unit.status_code, bad_dates.status_code) == (403, 422), (other_unit.text, bad_dates.text)
    assert await intake.runtime.store.last_seq() == before


async def test_an_orphaned_claim_blocks_only_for_the_grace_period(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose project was never registered (the process died between the two appends)."""
    claim_id = code_claims.claim_id(CODE, 2024)
    orphan = ProjectCodeClaimed(code=CODE, year=2024, project_id="p-never-registered")
    await intake.runtime.store.append("project_code", claim_id, orphan, expected=Position(), context=SYSTEM_CTX)
    hq = auth(intake.tokens["hq"])
    young = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=hq)
    assert _refused_for_code(young)["holder"] == "p-never-registered"
    monkeypatch.setattr(handlers, "CODE_CLAIM_GRACE", timedelta(0))
    taken_over = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=hq)
    assert taken_over.status_code == 201, taken_over.text
    events = await intake.runtime.store.read_aggregate("project_code", claim_id)
    assert events[-1].envelope.payload == {
        "code": CODE,
        "year": 2024,
        "project_id": taken_over.json()["id"],
        "taken_over_from": "p-never-registered",
    }
    # A holder that carries the code is never overtaken, however old its claim.
    again = await intake.client.post("/v1/projects", json=project_body(code=CODE), headers=hq)
    assert _refused_for_code(again)["holder"] == taken_over.json()["id"]
