"""issue_coordination's read model: issues (state + filter columns) and their timeline, one row per event.

Who answers for a project (unit, sponsor, task force) is not copied here: the shared project directory
(`shared.project_directory`) is a part of this service's read model beside this one, and the visibility rules read
it (policies.py, queries.py). The issue table is also what commands load their state from (`load_row`).
"""

from __future__ import annotations

from services.issue_coordination.domain import IssueState, evolve_issue
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.event_ledger import LedgeredAggregate, event_ledger

ISSUES = AggregateTable(
    "issues", "issue", IssueState, envelope_fold(evolve_issue),
    {
        "origin": ("text", lambda s: s.origin.value), "project_id": ("text", lambda s: s.project_id),
        "programme_id": ("text", lambda s: s.programme_id), "category": ("text", lambda s: s.category.value),
        "status": ("text", lambda s: s.status.value), "level": ("text", lambda s: s.level and s.level.value),
        "raised_by": ("text", lambda s: s.raised_by), "lead_unit_id": ("text", lambda s: s.lead_unit_id),
        "co_handler_ids": ("text[]", lambda s: s.co_handler_ids),
        "escalated_to": ("text[]", lambda s: s.escalated_to), "deadline": ("timestamptz", lambda s: s.deadline),
        "raised_at": ("timestamptz", lambda s: s.raised_at), "decision_id": ("text", lambda s: s.decision_id),
    },
)  # fmt: skip


TIMELINE = event_ledger("issue_timeline", "issue_id", "issue", with_actor=True)

INDEXES = """
CREATE INDEX IF NOT EXISTS issues_project ON {s}.issues (project_id, raised_at);
CREATE INDEX IF NOT EXISTS issues_lead ON {s}.issues (lead_unit_id);
CREATE INDEX IF NOT EXISTS issues_raised_by ON {s}.issues (raised_by);
CREATE INDEX IF NOT EXISTS issues_co_handlers ON {s}.issues USING gin (co_handler_ids);
CREATE INDEX IF NOT EXISTS issues_status_deadline ON {s}.issues (status, deadline);
CREATE INDEX IF NOT EXISTS issue_timeline_issue ON {s}.issue_timeline (issue_id, seq);
"""


class IssueReadModel(LedgeredAggregate):
    def __init__(self) -> None:
        super().__init__(ISSUES, TIMELINE, INDEXES)
