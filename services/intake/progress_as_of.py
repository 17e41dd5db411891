"""A project's progress ledger (进度台账) as the platform knew it at a moment (`as_of`, record time): the project's
events recorded by then, read from the log, each report folded with `progress.evolve_report` (the fold the
`progress_reports` table uses) beside its history, and the project folded with its own fold for the ledger's
accepted total (docs/adr/0031)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.intake.domain import ProjectState
from services.intake.ledger import REPORT_EVENT_TYPES
from services.intake.progress import ReportState, evolve_report
from services.intake.read_model import PROJECTS
from shared.catalogue import CATALOGUE
from shared.eventstore import StoredEvent


def ledger_then(events: Sequence[StoredEvent]) -> tuple[ProjectState, list[dict[str, Any]]]:
    """The project after these events, and its reports as `queries.list_progress_reports` answers them (by period):
    each report's state, the sequence of its last event and every event of it."""
    project: ProjectState | None = None
    reports: dict[str, ReportState] = {}
    last: dict[str, int] = {}
    history: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        project = PROJECTS.evolve(project, event)
        env = event.envelope
        if env.type not in REPORT_EVENT_TYPES:
            continue
        payload: Any = CATALOGUE.payload_of(event)
        reports[payload.report_id] = evolve_report(reports.get(payload.report_id), env, payload)
        last[payload.report_id] = event.seq
        history.setdefault(payload.report_id, []).append(
            {"seq": event.seq, "type": env.type, "payload": env.payload, "actor": env.actor.org_id,
             "recorded_at": env.recorded_at}
        )  # fmt: skip
    assert project is not None, "a ledger as of a moment is asked of a project that existed then"
    items = [
        {**state.model_dump(mode="json"), "seq": last[report_id], "history": history[report_id]}
        for report_id, state in sorted(reports.items(), key=lambda kv: kv[1].period_start)
    ]
    return project, items
