"""Every read of a single aggregate offers `as_of` (issue 11, docs/adr/0031), in every service, so that a new one
cannot be added without it: a GET with a path parameter, or one of the reads keyed by the caller's organisation or of
a service's one rule set, documents the `as_of` query parameter and says in its description what the historic view
shows; the operations that do not are listed below with the reason, and the list is kept exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.audit.bootstrap import create_app as create_audit
from services.intake.bootstrap import create_app as create_intake
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.notification.bootstrap import create_app as create_notification
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.settings import Settings
from shared.time_travel import AS_OF_DESCRIPTION
from tests.contract.test_openapi_document import OFFLINE

SERVICES: dict[str, Callable[[Settings], FastAPI]] = {
    "intake": create_intake, "scheduling": create_scheduling, "issue_coordination": create_issue_coordination,
    "notification": create_notification, "audit": create_audit,
}  # fmt: skip

# Single-aggregate reads without a path parameter: the caller's organisation's inbox and settings (or `org_id`'s),
# and the rule sets each service keeps as one aggregate.
KEYED_BY_ORGANISATION_OR_SINGLE = {
    ("notification", "/v1/inbox"), ("notification", "/v1/inbox/unread-count"),
    ("notification", "/v1/contact-points"), ("notification", "/v1/preferences"),
    ("notification", "/v1/subscriptions"), ("notification", "/v1/routing-rules"),
    ("scheduling", "/v1/rules"), ("scheduling", "/v1/evaluation-rules"),
    ("issue_coordination", "/v1/calendars"), ("issue_coordination", "/v1/issue-rules"),
}  # fmt: skip

# GETs with a path parameter that offer no `as_of`, and why.
WITHOUT_AS_OF = {
    ("intake", "/v1/projects/{project_id}/change-requests"):
        "a list over many change requests (a read-model join); each has /v1/change-requests/{id}?as_of=",
    ("intake", "/v1/attachments/{attachment_id}"):
        "a file's bytes, unchanged once uploaded (its size and SHA-256 are in the log): nothing to travel in",
    ("audit", "/v1/audit/events/{event_id}"): "one event as stored: immutable",
    ("audit", "/v1/audit/aggregates/{aggregate_type}/{aggregate_id}/history"):
        "every event of the aggregate with its record time: the history itself",
    ("audit", "/v1/audit/aggregates/{aggregate_type}/{aggregate_id}/diff"):
        "compares the aggregate between two record times (`from`, `to`)",
    ("audit", "/v1/audit/verification/{run_id}"): "a verification run's result, recorded once",
    ("audit", "/v1/audit/seals/{n}"): "a seal: immutable",
    ("audit", "/v1/audit/seals/{n}/inclusion"): "a proof against an immutable seal",
}  # fmt: skip

# GETs with a path parameter whose `as_of` is a business day, not the record time of time travel: documents and a
# computation over many aggregates, as of a day (ADR 0017's "as known on D"), not one aggregate's stored state.
AS_OF_IS_A_DAY = {
    ("scheduling", "/v1/programmes/{programme_id}/weekly-report"): "the weekly report of the week of that day",
    ("scheduling", "/v1/programmes/{programme_id}/ledger"): "the programme's ledger (XLSX) as of that day",
    ("scheduling", "/v1/projects/{project_id}/light/what-if"): "the light computed for that day (not recorded)",
}  # fmt: skip


def single_aggregate_reads() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, create in SERVICES.items():
        for path, item in create(OFFLINE).openapi()["paths"].items():
            if "get" in item and ("{" in path or (name, path) in KEYED_BY_ORGANISATION_OR_SINGLE):
                found.append((name, path, item["get"]))
    return found


READS = single_aggregate_reads()


@pytest.mark.parametrize(("name", "path", "op"), READS, ids=[f"{n} {p}" for n, p, _ in READS])
def test_each_single_aggregate_read_documents_as_of(name: str, path: str, op: dict[str, Any]) -> None:
    queries = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    if (name, path) in WITHOUT_AS_OF:
        assert "as_of" not in queries, f"{name} {path} offers as_of now: take it off the list of exceptions"
        return
    assert "as_of" in queries, f"{name} GET {path}: a single-aggregate read without as_of (issue 11)"
    if (name, path) in AS_OF_IS_A_DAY:
        assert queries["as_of"]["schema"].get("format") == "date", f"{name} {path}"
        return
    assert queries["as_of"]["description"] == AS_OF_DESCRIPTION, f"{name} {path}: as_of of shared.time_travel"
    assert "as_of" in op.get("summary", "") + op.get("description", ""), f"{name} {path}: say what as_of shows"
    assert "422" in op["responses"], f"{name} {path}: an invalid as_of is a 422"


def test_the_exceptions_and_the_keyed_reads_exist() -> None:
    """A renamed or removed operation leaves no stale exception behind."""
    seen = {(name, path) for name, path, _ in READS}
    assert set(WITHOUT_AS_OF) <= seen and set(AS_OF_IS_A_DAY) <= seen
    assert KEYED_BY_ORGANISATION_OR_SINGLE <= seen
