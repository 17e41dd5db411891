"""The OpenAPI document of each service lists every status and content type an operation can answer (shared.contract),
and the generic answers it documents hold (405 with a full Allow, an undecodable body as a 422 naming `body`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.problems import PROBLEM_JSON
from shared.settings import Settings
from shared.web import install_common

OFFLINE = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql://127.0.0.1:1/none")  # never connected
SERVICES: dict[str, Callable[[Settings], FastAPI]] = {"intake": create_intake, "scheduling": create_scheduling}
WRITE_METHODS = {"post", "put", "patch"}


def operations(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    document = SERVICES[name](OFFLINE).openapi()
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


@pytest.mark.parametrize("name", SERVICES)
def test_every_error_answer_is_problem_json_with_its_schema(name: str) -> None:
    document = SERVICES[name](OFFLINE).openapi()
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's 422 shape is never answered
    ops = operations(name)
    assert len(ops) >= 15
    for method, path, op in ops:
        errors = {int(s): r for s, r in op["responses"].items() if int(s) >= 400}
        assert {503} <= set(errors), f"{method} {path}"
        for status, response in errors.items():
            assert list(response["content"]) == [PROBLEM_JSON], f"{method} {path} {status}"
            assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert response["description"]  # says why, for the reader
        assert "Retry-After" in errors[503]["headers"]


@pytest.mark.parametrize("name", SERVICES)
def test_statuses_follow_what_an_operation_depends_on(name: str) -> None:
    for method, path, op in operations(name):
        documented = {int(s) for s in op["responses"]}
        names = {p["name"] for p in op.get("parameters", [])}
        where = f"{method.upper()} {path}"
        # Every operation of these services authenticates with a bearer token.
        assert op["security"] == [{"bearerAuth": []}], where
        assert {401, 403} <= documented and "WWW-Authenticate" in op["responses"]["401"]["headers"], where
        if "{" in path:
            assert 404 in documented, where
        if method in WRITE_METHODS:
            assert {413, 422} <= documented, where
        if "If-Match" in names:  # a command: malformed headers, a stale version, a lost race
            assert {400, 409, 412} <= documented, where
        if "min_seq" in names:
            assert {422, 504} <= documented, where
        else:
            assert 504 not in documented, where
        for parameter in op.get("parameters", []):  # no "null" to send in a query string or a header
            assert parameter["schema"].get("type") != "null" and "anyOf" not in parameter["schema"], where


def test_if_match_and_idempotency_key_say_what_is_accepted() -> None:
    [op] = [op for method, path, op in operations("intake") if (method, path) == ("patch", "/v1/projects/{project_id}")]
    headers = {p["name"]: p["schema"] for p in op["parameters"] if p["in"] == "header"}
    assert headers["If-Match"]["type"] == "string" and headers["If-Match"]["pattern"]
    assert (headers["Idempotency-Key"]["minLength"], headers["Idempotency-Key"]["maxLength"]) == (1, 200)


def test_report_files_document_their_content_type() -> None:
    by_path = {path: op for method, path, op in operations("scheduling") if method == "get"}
    weekly = by_path["/v1/programmes/{programme_id}/weekly-report"]["responses"]["200"]["content"]
    bulletin = by_path["/v1/reports/supervision-bulletin"]["responses"]["200"]["content"]
    xlsx = by_path["/v1/programmes/{programme_id}/ledger"]["responses"]["200"]["content"]
    docx_or_pdf = ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/pdf"]
    assert list(weekly) == docx_or_pdf and list(bulletin) == docx_or_pdf
    assert list(xlsx) == ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]


class Note(BaseModel):
    text: str


def bare_app() -> FastAPI:
    """install_common on an app without a runtime: what is answered before any dependency runs."""
    app = FastAPI()
    install_common(app)

    @app.get("/notes/{note_id}")
    async def read(note_id: str) -> dict[str, str]:
        return {"id": note_id}

    @app.put("/notes/{note_id}")
    async def write(note_id: str, note: Note) -> dict[str, str]:
        return {"id": note_id, "text": note.text}

    return app


async def test_405_names_every_allowed_method() -> None:
    transport = httpx.ASGITransport(app=bare_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://bare") as client:
        r = await client.delete("/notes/1")
    assert r.status_code == 405 and r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["allow"] == "GET, PUT"  # Starlette alone named only the first route's GET


async def test_a_body_that_is_not_utf8_is_a_422_naming_body() -> None:
    transport = httpx.ASGITransport(app=bare_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://bare") as client:
        r = await client.put("/notes/1", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.json()["errors"] == [{"field": "body", "reason": "不是有效的 JSON 文本(UTF-8)"}]
