"""audit's OpenAPI document says what each operation can answer, as every service's does (tests/contract), and
speaks Chinese to its reader."""

from __future__ import annotations

from services.audit.bootstrap import create_app
from shared.problems import PROBLEM_JSON
from shared.settings import Settings

OFFLINE = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql://127.0.0.1:1/none")  # never connected
PATHS = {
    "/v1/audit/events", "/v1/audit/events/{event_id}", "/v1/audit/aggregates/{aggregate_type}/{aggregate_id}/history",
    "/v1/audit/aggregates/{aggregate_type}/{aggregate_id}/diff", "/v1/audit/verification",
    "/v1/audit/verification/{run_id}", "/v1/audit/access-log",
}  # fmt: skip


def test_every_operation_documents_its_answers() -> None:
    document = create_app(OFFLINE).openapi()
    assert PATHS <= set(document["paths"])
    for path, item in document["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            documented = {int(s) for s in op["responses"]}
            assert op["security"] == [{"bearerAuth": []}], where
            assert {401, 403, 503} <= documented, where
            if op.get("parameters") or "requestBody" in op:  # what a client sends can be invalid
                assert 422 in documented, where
            if "{" in path:
                assert 404 in documented, where
            for status in documented - {200, 201, 202}:
                assert list(op["responses"][str(status)]["content"]) == [PROBLEM_JSON], where
            assert any("\u4e00" <= ch <= "\u9fff" for ch in op["summary"]), where
            for parameter in op.get("parameters", []):
                assert "anyOf" not in parameter["schema"], where
    last = document["paths"]["/v1/audit/verification"]["get"]
    assert 404 in {int(s) for s in last["responses"]}  # never run yet
