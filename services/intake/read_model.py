"""intake's read model: programmes, projects (state + filter columns), the progress ledger (ledger.py) and the
milestones of the projects' plans.

Each table is written in bulk, one statement per batch: an aggregate table folds its aggregate's events with the
domain's `evolve` (one SELECT for the rows a batch touches, one upsert); the ledger takes one row per event through
its table `event type -> row`. The aggregate tables are also what commands load their state from (`load_row`).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.intake import queries
from services.intake.attachments import AttachmentState, evolve_attachment
from services.intake.code_claims import ProjectCodeState, evolve_project_code
from services.intake.domain import ProgrammeState, ProjectState, evolve_programme, evolve_project
from services.intake.domain_change_requests import ChangeRequestState, evolve_change_request
from services.intake.identity import OrganisationState, evolve_organisation
from services.intake.ledger import REPORT_HISTORY, PlanMilestones, ReportLedger
from shared.aggregate_table import AggregateTable, BulkTable, envelope_fold
from shared.catalogue import CATALOGUE
from shared.ddl import lock_free_when_done
from shared.eventstore import Position, StoredEvent

PROGRAMMES = AggregateTable(
    "programmes", "programme", ProgrammeState, envelope_fold(evolve_programme),
    {"name": ("text", lambda s: s.name), "year": ("int", lambda s: s.year), "demo": ("boolean", lambda s: s.demo)},
)  # fmt: skip
PROJECTS = AggregateTable(
    "projects", "project", ProjectState, envelope_fold(evolve_project),
    {
        "programme_id": ("text", lambda s: s.programme_id), "category": ("text", lambda s: s.category.value),
        "unit_id": ("text", lambda s: s.unit_id), "sponsor_leader_id": ("text", lambda s: s.sponsor_leader_id),
        "phase": ("text", lambda s: s.phase.value), "name": ("text", lambda s: s.name),
        "code": ("text", lambda s: s.code), "demo": ("boolean", lambda s: s.demo),
        "registered_at": ("timestamptz", lambda s: s.registered_at),
    },
    snapshot_every=32,  # a project has hundreds of events a year (weekly reports); its state stays small
)  # fmt: skip
# National code claims: what a registration or amendment loads to claim a code (services/intake/code_claims.py).
PROJECT_CODES = AggregateTable(
    "project_codes", "project_code", ProjectCodeState, envelope_fold(evolve_project_code),
    {"code": ("text", lambda s: s.code), "year": ("int", lambda s: s.year),
     "project_id": ("text", lambda s: s.project_id)},
)  # fmt: skip
# Change requests (变更申请): what a filing or a decision loads, and what the queues list.
CHANGE_REQUESTS = AggregateTable(
    "change_requests", "change_request", ChangeRequestState, envelope_fold(evolve_change_request),
    {"project_id": ("text", lambda s: s.project_id), "programme_id": ("text", lambda s: s.programme_id),
     "unit_id": ("text", lambda s: s.unit_id), "kind": ("text", lambda s: s.kind.value),
     "status": ("text", lambda s: s.status), "filed_at": ("timestamptz", lambda s: s.filed_at)},
)  # fmt: skip
# Site evidence: what an upload recorded, loaded by the commands that reference it (services/intake/attachments.py).
ATTACHMENTS = AggregateTable(
    "attachments", "attachment", AttachmentState, envelope_fold(evolve_attachment),
    {"project_id": ("text", lambda s: s.project_id)},
)  # fmt: skip


INDEXES = """
CREATE INDEX IF NOT EXISTS projects_filter ON {s}.projects (programme_id, category, unit_id, phase);
CREATE INDEX IF NOT EXISTS projects_code ON {s}.projects (code) WHERE code IS NOT NULL;
CREATE INDEX IF NOT EXISTS change_requests_queue ON {s}.change_requests (status, filed_at);
CREATE INDEX IF NOT EXISTS change_requests_project ON {s}.change_requests (project_id, kind);
"""


class IntakeReadModel:
    tables = (
        "programmes", *PROJECTS.tables, "project_codes", "progress_reports", "progress_report_history",
        "plan_milestones", "change_requests", "attachments",
    )  # fmt: skip
    parts: tuple[BulkTable, ...] = (
        PROGRAMMES, PROJECTS, PROJECT_CODES, ReportLedger(), REPORT_HISTORY, PlanMilestones(), CHANGE_REQUESTS,
        ATTACHMENTS,
    )  # fmt: skip

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(
            lock_free_when_done("".join(part.ddl(schema) for part in self.parts) + INDEXES.format(s=schema))
        )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        for part in self.parts:
            await part.apply(conn, schema, events)


class OrganisationAggregate:
    """Organisations as commands load them: from the identity tables every service projects (shared.auth)."""

    aggregate_type = "organisation"

    def evolve(self, state: OrganisationState | None, event: StoredEvent) -> OrganisationState:
        return evolve_organisation(state, event.envelope, CATALOGUE.payload_of(event))

    async def load_row(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str
    ) -> tuple[OrganisationState | None, Position]:
        return await queries.load_organisation(conn, schema, aggregate_id)


ORGANISATIONS = OrganisationAggregate()
