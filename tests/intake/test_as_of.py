"""`?as_of=` on intake's single-aggregate reads: the state the platform had recorded by that moment, folded from the
log (docs/adr/0031), on the one clock that stamps `recorded_at` (ADR 0017)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.bootstrap import create_app
from services.intake.read_model import PROJECTS
from shared import aggregate_table
from shared.clock import CHINA, SimulatedClock
from shared.settings import Settings
from shared.time_travel import fold_as_of
from tests.intake.conftest import Intake
from tests.intake.test_change_requests import _decide, _file
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of

START = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


@pytest.fixture
async def clocked(settings: Settings) -> AsyncIterator[tuple[Intake, SimulatedClock]]:
    clock = SimulatedClock(START)
    app = create_app(settings, clock=clock)
    async with running(app) as client:
        runtime = runtime_of(app)
        platform = Intake(client, runtime, await bootstrap_orgs(runtime.store))
        assert await runtime.runner.wait_for(await runtime.store.last_seq(), 10)
        assert await runtime.runner.wait_for(await platform.create_programme(), 10)
        yield platform, clock


async def test_as_of_after_an_amendment_shows_the_earlier_version(clocked: tuple[Intake, SimulatedClock]) -> None:
    intake, clock = clocked
    hq = auth(intake.tokens["hq"])
    r = await intake.client.post("/v1/projects", json=project_body(name="原名项目"), headers=hq)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    registered = clock.now()
    clock.advance(timedelta(days=2))
    r = await intake.client.patch(
        f"/v1/projects/{pid}", json={"name": "更名项目", "location": "山阳区"}, headers={**hq, "If-Match": "1"}
    )
    assert r.status_code == 200, r.text
    amended = clock.now()
    clock.advance(timedelta(days=1))
    live = await intake.client.get(f"/v1/projects/{pid}", params={"min_seq": r.json()["seq"]}, headers=hq)
    assert live.json()["name"] == "更名项目" and live.json()["version"] == 2
    assert "tiaodu-as-of" not in live.headers

    # A moment between the registration and the amendment: the project as first registered, version 1.
    between = (registered + timedelta(days=1)).astimezone(UTC).isoformat()
    then = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": between}, headers=hq)
    assert then.status_code == 200, then.text
    assert then.json()["name"] == "原名项目" and then.json()["version"] == 1 and then.headers["etag"] == '"1"'
    assert datetime.fromisoformat(then.headers["tiaodu-as-of"]) == registered + timedelta(days=1)
    # The response is the live read's shape, field for field.
    assert set(then.json()) == set(live.json())
    # At the amendment's own moment (with an offset, Beijing time) it is included.
    at = amended.astimezone(CHINA).isoformat()
    r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": at}, headers=hq)
    assert r.json()["name"] == "更名项目" and r.json()["version"] == 2
    # A date alone is the end of that day in China: 1 March (registration day) shows version 1, 3 March version 2.
    r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": "2024-03-01"}, headers=hq)
    assert r.json()["version"] == 1
    assert datetime.fromisoformat(r.headers["tiaodu-as-of"]) == datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=CHINA)
    r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": "2024-03-03"}, headers=hq)
    assert r.json()["version"] == 2
    # A moment in the future is now.
    r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": "2099-01-01T00:00:00Z"}, headers=hq)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert datetime.fromisoformat(r.headers["tiaodu-as-of"]) == clock.now()
    # Before the project existed: 404 saying so.
    r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": "2024-02-29T12:00:00+08:00"}, headers=hq)
    assert r.status_code == 404 and "尚不存在" in r.json()["detail"], r.text
    # The programme as of then counts only the projects registered by then.
    r = await intake.client.get("/v1/programmes/prog", params={"as_of": "2024-02-29T12:00:00+08:00"}, headers=hq)
    assert r.status_code == 404, r.text  # the programme was registered with the project, on 1 March
    r = await intake.client.get("/v1/programmes/prog", params={"as_of": between}, headers=hq)
    assert r.status_code == 200 and r.json()["project_count"] == 1, r.text


@pytest.mark.parametrize(
    "value", ["yesterday", "2024-13-01", "2024-03-01T10:00:00", "2024-03-01 10:00", "2024-03-01T25:00:00+08:00", ""]
)
async def test_a_bad_as_of_is_422_naming_it(clocked: tuple[Intake, SimulatedClock], value: str) -> None:
    intake, _ = clocked
    hq = auth(intake.tokens["hq"])
    r = await intake.client.post("/v1/projects", json=project_body(), headers=hq)
    r = await intake.client.get(f"/v1/projects/{r.json()['id']}", params={"as_of": value}, headers=hq)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "as_of"


async def test_as_of_respects_who_may_read(clocked: tuple[Intake, SimulatedClock]) -> None:
    intake, _ = clocked
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    pid = r.json()["id"]
    assert await intake.runtime.runner.wait_for(r.json()["seq"], 10)
    r = await intake.client.get(
        f"/v1/projects/{pid}", params={"as_of": "2024-03-02"}, headers=auth(intake.tokens["unit-b"])
    )
    assert r.status_code == 403
    r = await intake.client.get(
        "/v1/projects/p-nothing", params={"as_of": "2024-03-02"}, headers=auth(intake.tokens["hq"])
    )
    assert r.status_code == 404


async def test_a_change_request_as_of_before_its_decision_is_pending(clocked: tuple[Intake, SimulatedClock]) -> None:
    intake, clock = clocked
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    pid = r.json()["id"]
    assert await intake.runtime.runner.wait_for(r.json()["seq"], 10)
    body = {"kind": "planned_dates", "reason": "征地延期", "planned_start": "2024-09-01"}
    cr_id = (await _file(intake, pid, body))["id"]
    filed = clock.now()
    clock.advance(timedelta(days=1))
    rejected = await _decide(intake, cr_id, "reject")
    assert await intake.runtime.runner.wait_for(rejected["seq"], 10)
    path, unit = f"/v1/change-requests/{cr_id}", auth(intake.tokens["unit-a"])
    live = (await intake.client.get(path, headers=unit)).json()
    assert live["status"] == "rejected"
    r = await intake.client.get(path, params={"as_of": (filed + timedelta(hours=1)).isoformat()}, headers=unit)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["version"] == 1 and set(r.json()) == set(live)


async def test_the_progress_ledger_as_of_a_moment_before_a_review(clocked: tuple[Intake, SimulatedClock]) -> None:
    """The ledger as of a moment: the reports, corrections and reviews recorded by then, folded from the project's
    events; up to now it is the live ledger (read model) field for field."""
    intake, clock = clocked
    hq, unit = auth(intake.tokens["hq"]), auth(intake.tokens["unit-a"])
    r = await intake.client.post("/v1/projects", json=project_body(), headers=hq)
    pid = r.json()["id"]
    path = f"/v1/projects/{pid}/progress-reports"
    reports = []
    for start, end, amount in (("2024-03-04", "2024-03-10", "100"), ("2024-02-26", "2024-03-03", "50")):
        body = {"period_start": start, "period_end": end, "investment_this_period": amount, "image_progress_pct": "5"}
        r = await intake.client.post(path, json=body, headers=unit)
        assert r.status_code == 201, r.text
        reports.append(r.json()["report_id"])
    filed = clock.now()
    clock.advance(timedelta(days=1))
    r = await intake.client.post(f"{path}/{reports[0]}/review", json={"decision": "accept"}, headers=hq)
    assert r.status_code == 200, r.text
    assert await intake.runtime.runner.wait_for(r.json()["seq"], 10)

    async def ledger(**params: str) -> dict[str, Any]:
        r = await intake.client.get(path, params=params, headers=hq)
        assert r.status_code == 200, r.text
        assert ("tiaodu-as-of" in r.headers) == ("as_of" in params)
        body: dict[str, Any] = r.json()
        return body

    live = await ledger()
    assert (live["cumulative_investment"], live["pending_reports"], live["pending_investment"]) == ("100", 1, "50")
    then = await ledger(as_of=filed.isoformat())
    assert (then["cumulative_investment"], then["pending_reports"], then["pending_investment"]) == ("0", 2, "150")
    assert [(i["report_id"], i["status"], len(i["history"])) for i in then["items"]] == [
        (reports[1], "pending", 1), (reports[0], "pending", 1)  # by period, as the live ledger
    ]  # fmt: skip
    assert await ledger(as_of="2099-01-01") == live
    assert (await ledger(as_of=filed.isoformat(), limit="1", offset="1"))["items"] == then["items"][1:]

    r = await intake.client.get(path, params={"as_of": "2024-02-29T12:00:00+08:00"}, headers=hq)
    assert r.status_code == 404 and "尚不存在" in r.json()["detail"], r.text
    r = await intake.client.get(path, params={"as_of": "soon"}, headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"
    r = await intake.client.get(path, params={"as_of": filed.isoformat()}, headers=auth(intake.tokens["unit-b"]))
    assert r.status_code == 403


async def amended_project(intake: Intake, clock: SimulatedClock, versions: int) -> tuple[str, dict[int, datetime]]:
    """A project registered and amended until `versions`, ten minutes apart; when each version was recorded."""
    hq = auth(intake.tokens["hq"])
    r = await intake.client.post("/v1/projects", json=project_body(name="名称1"), headers=hq)
    assert r.status_code == 201, r.text
    pid, seq = r.json()["id"], r.json()["seq"]
    recorded = {1: clock.now()}
    for version in range(2, versions + 1):
        clock.advance(timedelta(minutes=10))
        r = await intake.client.patch(f"/v1/projects/{pid}", json={"name": f"名称{version}"},
                                      headers={**hq, "If-Match": str(version - 1)})  # fmt: skip
        assert r.status_code == 200 and r.json()["version"] == version, r.text
        recorded[version], seq = clock.now(), r.json()["seq"]
    assert await intake.runtime.runner.wait_for(seq, 20)
    return pid, recorded


async def kept_versions(intake: Intake, pid: str) -> list[int]:
    rt = intake.runtime
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT version FROM {rt.schema}.{PROJECTS.snapshot_table} WHERE id = $1", pid)
    return sorted(row["version"] for row in rows)


async def test_as_of_from_a_snapshot_is_the_fold_from_the_first_event(clocked: tuple[Intake, SimulatedClock]) -> None:
    """A project amended 80 times: its read model keeps snapshots at versions 32 and 64, and an as-of read that
    starts from one (reading only the events after it) answers exactly what folding every event from the first
    gives, at moments before, on, between and after the snapshots' events."""
    intake, clock = clocked
    every = PROJECTS.snapshot_every
    pid, recorded = await amended_project(intake, clock, 2 * every + 16)
    assert await kept_versions(intake, pid) == [every, 2 * every]

    rt = intake.runtime
    hq = auth(intake.tokens["hq"])
    for version in (1, every - 1, every, every + 1, every + every // 2, 2 * every - 1, 2 * every, 2 * every + 16):
        for moment in (recorded[version], recorded[version] + timedelta(minutes=5)):
            whole = await fold_as_of(rt.store, PROJECTS, pid, moment, noun="项目")
            fast = await fold_as_of(rt.store, PROJECTS, pid, moment, noun="项目", snapshots=rt.snapshots)
            assert fast == whole, (version, moment)
            assert whole.position.version == version and whole.state.name == f"名称{version}"
            r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": moment.isoformat()}, headers=hq)
            assert r.status_code == 200 and r.json()["version"] == version and r.json()["name"] == f"名称{version}"
    before = recorded[1] - timedelta(minutes=1)
    r = await intake.client.get(f"/v1/projects/{pid}", params={"as_of": before.isoformat()}, headers=hq)
    assert r.status_code == 404 and "尚不存在" in r.json()["detail"], r.text


async def test_a_state_over_the_size_bound_is_not_kept_and_the_read_folds_from_the_first_event(
    clocked: tuple[Intake, SimulatedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snapshots are bounded by size: a state larger than SNAPSHOT_MAX_BYTES is not kept (its snapshots would grow
    with the square of its versions if it grew with them), and time travel folds that aggregate from its first
    event, with the same answer."""
    intake, clock = clocked
    monkeypatch.setattr(aggregate_table, "SNAPSHOT_MAX_BYTES", 64)  # smaller than any project's state
    every = PROJECTS.snapshot_every
    pid, recorded = await amended_project(intake, clock, every + 2)
    assert await kept_versions(intake, pid) == []
    r = await intake.client.get(
        f"/v1/projects/{pid}", params={"as_of": recorded[every + 1].isoformat()}, headers=auth(intake.tokens["hq"])
    )
    assert r.status_code == 200 and r.json()["version"] == every + 1 and r.json()["name"] == f"名称{every + 1}"


async def test_a_snapshot_that_does_not_link_to_the_log_is_set_aside(
    clocked: tuple[Intake, SimulatedClock], caplog: pytest.LogCaptureFixture
) -> None:
    """The log is the record and a snapshot only a shortcut: a snapshot row altered in the read model (its state and
    hash) no longer matches its event in the log, so the read folds from the first event, answers what the log says
    and warns."""
    intake, clock = clocked
    every = PROJECTS.snapshot_every
    pid, recorded = await amended_project(intake, clock, every + 4)
    rt = intake.runtime
    async with rt.pool.acquire() as conn:
        altered = await conn.execute(
            f"UPDATE {rt.schema}.{PROJECTS.snapshot_table} SET hash = 'forged',"
            " state = jsonb_set(state, '{location}', '\"伪造地点\"') WHERE id = $1 AND version = $2",
            pid, every,
        )  # fmt: skip
    assert altered == "UPDATE 1"
    r = await intake.client.get(
        f"/v1/projects/{pid}", params={"as_of": recorded[every + 2].isoformat()}, headers=auth(intake.tokens["hq"])
    )
    assert r.status_code == 200 and r.json()["version"] == every + 2, r.text
    assert r.json()["location"] != "伪造地点"
    assert any("does not match the log" in m for m in caplog.messages), caplog.messages


async def test_another_aggregates_snapshot_put_in_place_of_one_is_set_aside(
    clocked: tuple[Intake, SimulatedClock], caplog: pytest.LogCaptureFixture
) -> None:
    """A consistent forgery: project A's snapshot row replaced by project B's (B's subject, sequence, version, hash
    and state). The log holds that event as named, but it is B's: A's read sets the row aside and answers A."""
    intake, clock = clocked
    every = PROJECTS.snapshot_every
    a, _ = await amended_project(intake, clock, every + 2)
    b, _ = await amended_project(intake, clock, every + 2)  # recorded after A's: B's events are all before `now`
    rt = intake.runtime
    table = f"{rt.schema}.{PROJECTS.snapshot_table}"
    async with rt.pool.acquire() as conn:
        replaced = await conn.execute(
            f"UPDATE {table} AS t SET seq = o.seq, hash = o.hash, subject = o.subject, state = o.state"
            f" FROM {table} AS o WHERE t.id = $1 AND o.id = $2 AND t.version = $3 AND o.version = $3",
            a, b, every,
        )  # fmt: skip
    assert replaced == "UPDATE 1"
    now = clock.now().isoformat()
    r = await intake.client.get(f"/v1/projects/{a}", params={"as_of": now}, headers=auth(intake.tokens["hq"]))
    assert r.status_code == 200 and r.json()["id"] == a and r.json()["version"] == every + 2, r.text
    assert any("does not match the log" in m for m in caplog.messages), caplog.messages
