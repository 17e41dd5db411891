"""The direct route of the progress report (shared.direct_commands) answers exactly what its FastAPI route answers.

Each case is sent twice, on two projects in the same state: once as clients send it (`Content-Type:
application/json`: the direct route takes it) and once as `application/vnd.tiaodu+json`, which the direct route leaves
to FastAPI (FastAPI reads any `+json` body as JSON). The answers must agree in status, headers and body, ids
and log positions aside; a counter on the direct route's handler proves which route answered which.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.types import Scope

from shared.catalogue.scheduling import Milestone, PlanDrafted
from shared.direct_commands import DirectCommands
from shared.envelope import Actor, Role
from shared.eventstore import Context, Position
from shared.settings import Settings
from tests.intake.conftest import Intake, intake_platform
from tests.platform import auth, project_body

PLANNER = Context(actor=Actor(org_id="unit-a", role=Role.UNIT), correlation_id="plan")
# Headers whose agreement matters to a client (Date and the like differ by the moment).
COMPARED = ("content-type", "etag", "location", "retry-after", "www-authenticate")


def week(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"period_start": start, "period_end": end, "investment_this_period": "10", "image_progress_pct": "5",
            **extra}  # fmt: skip


@pytest.fixture
async def counted(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Intake, list[str]]]:
    """intake in-process, its direct route listing the requests it answers itself (leaving none to FastAPI)."""
    answered: list[str] = []
    answer = DirectCommands.answer

    async def listing(self: DirectCommands, scope: Scope, *args: Any) -> bool:
        took_it = await answer(self, scope, *args)
        if took_it:
            answered.append(scope["path"])
        return took_it

    monkeypatch.setattr(DirectCommands, "answer", listing)
    async with intake_platform(settings) as platform:
        yield platform, answered


async def _project(intake: Intake) -> str:
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    assert r.status_code == 201, r.text
    pid = str(r.json()["id"])
    permit = Milestone(milestone_id="permit", name="施工许可", planned_date=date(2024, 3, 31), unit_id="unit-a")
    plan = PlanDrafted(
        project_id=pid, year=2024, annual_target_investment=Decimal(1200), monthly_investment=[Decimal(100)] * 12,
        milestones=[permit],
    )  # fmt: skip
    stored = await intake.runtime.store.append("plan", f"{pid}-y2024", plan, expected=Position(), context=PLANNER)
    assert await intake.runtime.runner.wait_for(stored.seq, 10)
    return pid


def _normalised(r: httpx.Response, pid: str) -> tuple[int, dict[str, str], Any]:
    """The answer with what differs between the two projects (their ids, report ids, log positions) named instead."""
    text = r.text.replace(pid, "<project>")
    found = json.loads(text)
    for volatile in ("report_id", "overlaps_report_id"):  # also named in `detail` and `errors`
        if isinstance(found, dict) and isinstance(found.get(volatile), str):
            text = text.replace(found[volatile], f"<{volatile}>")
    body = json.loads(text)
    if isinstance(body, dict) and "seq" in body:
        body["seq"] = "<seq>"
    headers = {name: r.headers[name].replace(pid, "<project>") for name in COMPARED if name in r.headers}
    return r.status_code, headers, body


# (name, token's organisation, If-Match, extra headers, body, project: "own" | "missing"); each runs after the ones
# before it on the same project, so that a 409 finds the first report and a 412 a version already moved.
DONE = [{"milestone_id": "permit", "done_on": "2024-03-12"}]
TYPO = [{"milestone_id": "permitt", "done_on": "2024-05-07"}]
CASES: list[tuple[str, str, str | None, dict[str, str], dict[str, Any], str]] = [
    ("filed", "unit-a", "1", {}, week("2024-03-04", "2024-03-10"), "own"),
    ("milestone-done", "unit-a", None, {}, week("2024-03-11", "2024-03-17", milestones_done=DONE), "own"),
    ("with-key", "unit-a", None, {"Idempotency-Key": "k-1"}, week("2024-03-18", "2024-03-24"), "own"),
    ("same-key-again", "unit-a", None, {"Idempotency-Key": "k-1"}, week("2024-03-18", "2024-03-24"), "own"),
    ("stale-if-match", "unit-a", "1", {}, week("2024-04-01", "2024-04-07"), "own"),
    ("weak-if-match", "unit-a", 'W/"4"', {}, week("2024-04-08", "2024-04-14"), "own"),
    ("malformed-if-match", "unit-a", "v5", {}, week("2024-04-15", "2024-04-21"), "own"),
    ("key-too-long", "unit-a", None, {"Idempotency-Key": "k" * 201}, week("2024-04-15", "2024-04-21"), "own"),
    ("overlap", "unit-a", None, {}, week("2024-03-06", "2024-03-06"), "own"),
    ("unplanned-milestone", "unit-a", None, {}, week("2024-05-06", "2024-05-12", milestones_done=TYPO), "own"),
    ("other-unit", "unit-b", None, {}, week("2024-05-13", "2024-05-19"), "own"),
    ("unknown-project", "unit-a", None, {}, week("2024-05-13", "2024-05-19"), "missing"),
]


async def test_the_direct_route_answers_every_case_as_the_fastapi_route_does(
    counted: tuple[Intake, list[str]],
) -> None:
    intake, answered = counted
    direct_pid, fastapi_pid = await _project(intake), await _project(intake)
    for name, org, if_match, extra, body, project in CASES:
        answers = []
        for pid, content_type in (
            (direct_pid, {"Content-Type": "application/json"}),
            (fastapi_pid, {"Content-Type": "application/vnd.tiaodu+json"}),
        ):
            target = pid if project == "own" else f"{pid}-missing"
            headers = auth(intake.tokens[org], **content_type, **extra)
            if if_match is not None:
                headers["If-Match"] = if_match
            before = len(answered)
            r = await intake.client.post(
                f"/v1/projects/{target}/progress-reports", content=json.dumps(body).encode(), headers=headers
            )
            took_it = len(answered) > before
            assert took_it == (pid == direct_pid), f"{name}: the direct route took {took_it} for {content_type}"
            answers.append(_normalised(r, pid))
        assert answers[0] == answers[1], f"{name}: direct {answers[0]} != FastAPI {answers[1]}"
        assert answers[0][0] in {201, 400, 403, 404, 409, 412, 422}, f"{name}: {answers[0]}"


async def test_what_the_direct_route_cannot_validate_is_left_to_fastapi_and_answered_as_documented(
    counted: tuple[Intake, list[str]],
) -> None:
    intake, answered = counted
    pid = await _project(intake)
    headers = auth(intake.tokens["unit-a"], **{"Content-Type": "application/json"})
    path = f"/v1/projects/{pid}/progress-reports"
    bad = [
        (b'{"period_start": "2024-03-04"', "body"),  # not JSON
        (json.dumps({**week("2024-03-04", "2024-03-10"), "image_progress_pct": "101"}).encode(), "image_progress_pct"),
        (json.dumps(week("2024-02-30", "2024-03-10")).encode(), "period_start"),
        (b"[]", "body"),
    ]
    for content, field in bad:
        r = await intake.client.post(path, content=content, headers=headers)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        assert field in {e["field"] for e in r.json()["errors"]}, r.text
    assert answered == []  # none reached the direct route's handler
    events = await intake.runtime.store.read_aggregate("project", pid)
    assert "ProgressReported" not in [e.envelope.type for e in events]
    r = await intake.client.post(path, content=b"{}", headers={"Content-Type": "application/json"})  # no token
    assert r.status_code == 401 and answered == [], r.text


async def test_a_client_gone_before_its_whole_body_arrived_writes_nothing(counted: tuple[Intake, list[str]]) -> None:
    """Half a body, then the client disconnects: nothing is written. (The body limit, outside, reads a body before
    the direct route does and hands on the disconnect; the direct route then leaves the request to the app.)"""
    intake, answered = counted
    pid = await _project(intake)
    body = json.dumps(week("2024-03-04", "2024-03-10")).encode()
    incoming = [
        {"type": "http.request", "body": body, "more_body": True},  # valid JSON so far, but more was announced
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = auth(intake.tokens["unit-a"], **{"Content-Type": "application/json"})
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": f"/v1/projects/{pid}/progress-reports", "raw_path": b"", "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1), "server": ("intake.test", 80),
    }  # fmt: skip
    app = intake.client._transport.app  # type: ignore[attr-defined]  # the in-process app httpx calls
    with contextlib.suppress(Exception):  # what the app does with a vanished client is its own (ClientDisconnect)
        await app(scope, receive, send)
    assert answered == [] and not [m for m in sent if m.get("status") == 201], sent
    events = await intake.runtime.store.read_aggregate("project", pid)
    assert "ProgressReported" not in [e.envelope.type for e in events]
