"""Optimistic concurrency and idempotency against the real JetStream server."""

from __future__ import annotations

import asyncio

from tests.intake.conftest import Intake
from tests.platform import auth, new_key, project_body


async def _register(intake: Intake) -> dict[str, int | str]:
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    assert r.status_code == 201, r.text
    body: dict[str, int | str] = r.json()
    return body


async def test_twenty_racing_writers_one_version_exactly_one_wins(intake: Intake) -> None:
    """Also guards against server regressions in the expected-last-subject-sequence check."""
    conflicts = 0
    project = await _register(intake)
    version = int(project["version"])
    for round_no in range(5):
        requests = [
            intake.client.patch(
                f"/v1/projects/{project['id']}",
                json={"name": f"第{round_no}轮写者{i}"},
                headers=auth(intake.tokens["hq"], **{"If-Match": str(version)}),
            )
            for i in range(20)
        ]
        answers = await asyncio.gather(*requests)
        statuses = sorted(r.status_code for r in answers)
        assert statuses.count(200) == 1, [r.text for r in answers if r.status_code != 409]
        losers = [r for r in answers if r.status_code != 200]
        # 409: lost the append race; 412: loaded after the winner, so If-Match no longer matched.
        assert {r.status_code for r in losers} <= {409, 412}
        assert all(r.headers["content-type"].startswith("application/problem+json") for r in losers)
        winner = next(r for r in answers if r.status_code == 200).json()
        assert winner["version"] == version + 1
        assert {r.json()["current_version"] for r in losers} == {version + 1}
        conflicts += sum(r.status_code == 409 for r in losers)
        version += 1
    assert conflicts > 0, "no request ever reached the append race; the test would not catch a regression"
    events = await intake.runtime.store.read_aggregate("project", str(project["id"]))
    assert [e.envelope.version for e in events] == list(range(1, 7))


async def test_stale_if_match_is_412_with_current_version(intake: Intake) -> None:
    project = await _register(intake)
    r = await intake.client.patch(
        f"/v1/projects/{project['id']}",
        json={"name": "x"},
        headers=auth(intake.tokens["hq"], **{"If-Match": "7"}),
    )
    assert r.status_code == 412
    assert r.json()["current_version"] == 1


async def test_writers_without_if_match_all_land_in_order(intake: Intake) -> None:
    project = await _register(intake)
    answers = await asyncio.gather(
        *[
            intake.client.post(
                f"/v1/projects/{project['id']}/progress-reports",
                json={
                    "period_start": "2024-03-01",
                    "period_end": "2024-03-07",
                    "investment_this_period": "10",
                    "image_progress_pct": "5",
                },
                headers=auth(intake.tokens["unit-a"]),
            )
            for _ in range(8)
        ]
    )
    assert [r.status_code for r in answers] == [201] * 8
    assert sorted(r.json()["version"] for r in answers) == list(range(2, 10))
    last = max(r.json()["seq"] for r in answers)
    r = await intake.client.get(
        f"/v1/projects/{project['id']}", params={"min_seq": last}, headers=auth(intake.tokens["hq"])
    )
    assert r.json()["cumulative_investment"] == "80"


async def test_idempotent_retry_appends_nothing_and_answers_the_same(intake: Intake) -> None:
    key = new_key()
    headers = auth(intake.tokens["hq"], **{"Idempotency-Key": key})
    first = await intake.client.post("/v1/projects", json=project_body(), headers=headers)
    assert first.status_code == 201
    seq_after_first = await intake.runtime.store.last_seq()
    # Immediately (probably before projection: answered from the log) and after projection (from the table).
    again = await intake.client.post("/v1/projects", json=project_body(), headers=headers)
    assert await intake.runtime.runner.wait_for(seq_after_first, 5)
    later = await intake.client.post("/v1/projects", json=project_body(), headers=headers)
    for retry in (again, later):
        assert retry.status_code == 201
        assert retry.json() == first.json()
    assert await intake.runtime.store.last_seq() == seq_after_first


async def test_concurrent_retries_of_one_report_count_it_once(intake: Intake) -> None:
    project = await _register(intake)
    key = new_key()
    body = {
        "period_start": "2024-03-01",
        "period_end": "2024-03-07",
        "investment_this_period": "250.5",
        "image_progress_pct": "12.5",
    }
    answers = await asyncio.gather(
        *[
            intake.client.post(
                f"/v1/projects/{project['id']}/progress-reports",
                json=body,
                headers=auth(intake.tokens["unit-a"], **{"Idempotency-Key": key}),
            )
            for _ in range(6)
        ]
    )
    assert {r.status_code for r in answers} == {201}
    assert len({(r.json()["version"], r.json()["seq"]) for r in answers}) == 1
    seq = answers[0].json()["seq"]
    r = await intake.client.get(
        f"/v1/projects/{project['id']}/progress-reports",
        params={"min_seq": seq},
        headers=auth(intake.tokens["hq"]),
    )
    assert r.json()["total"] == 1
    assert r.json()["items"][0]["cumulative_investment"] == "250.5"


async def test_same_key_from_another_organisation_is_a_different_request(intake: Intake) -> None:
    key = new_key()
    r1 = await intake.client.post(
        "/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"], **{"Idempotency-Key": key})
    )
    project_id = r1.json()["id"]
    body = {
        "period_start": "2024-03-01",
        "period_end": "2024-03-07",
        "investment_this_period": "1",
        "image_progress_pct": "1",
    }
    r2 = await intake.client.post(
        f"/v1/projects/{project_id}/progress-reports",
        json=body,
        headers=auth(intake.tokens["unit-a"], **{"Idempotency-Key": key}),
    )
    assert r2.status_code == 201 and r2.json()["version"] == 2
