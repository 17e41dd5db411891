"""The progress ledger's report rows on real PostgreSQL: in a bulk batch the reports it files are appended (COPY), the
ones it corrects or reviews upserted; a live batch upserts every row. Either way a report id filed again in a later
batch (only a forged log has one) keeps its latest state (docs/adr/0042). `COPY_FROM_ROWS` set to 1 makes the few
events here a bulk batch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import pytest
from pydantic import BaseModel

from services.intake import ledger as ledger_module
from services.intake.ledger import ReportLedger
from shared import aggregate_table
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import ProgressReportAccepted, ProgressReported
from shared.envelope import seal_envelope
from shared.eventstore import StoredEvent
from shared.settings import Settings

PROJECT = "p1"


def stored(seq: int, payload: BaseModel) -> StoredEvent:
    entry = CATALOGUE.entry_for(payload)
    envelope = seal_envelope({
        "id": uuid.uuid4(), "type": entry.name, "schema_version": entry.schema_version, "aggregate_type": "project",
        "aggregate_id": PROJECT, "version": seq, "occurred_at": datetime(2024, 3, 1, tzinfo=UTC),
        "recorded_at": datetime(2024, 3, 1, 0, seq, tzinfo=UTC), "actor": {"org_id": "unit-a", "role": "unit"},
        "correlation_id": "c", "prev_hash": None, "payload": payload.model_dump(mode="json"),
    })  # fmt: skip
    return StoredEvent(seq, f"t.evp.0.project.{PROJECT}", envelope)


def reported(report_id: str, amount: str, day: int) -> ProgressReported:
    return ProgressReported(
        report_id=report_id, period_start=date(2024, 3, day), period_end=date(2024, 3, day),
        investment_this_period=Decimal(amount), cumulative_investment=Decimal(0), image_progress_pct=Decimal(5),
        awaiting_review=True,
    )  # fmt: skip


@pytest.mark.parametrize("batch", ["bulk", "live"])
async def test_filed_reports_are_appended_and_a_report_filed_again_keeps_its_latest_state(
    settings: Settings, batch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if batch == "bulk":
        monkeypatch.setattr(ledger_module, "COPY_FROM_ROWS", 1)
        monkeypatch.setattr(aggregate_table, "COPY_FROM_ROWS", 1)
    ledger = ReportLedger()
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("CREATE SCHEMA ledger")
        await conn.execute(ledger.ddl("ledger"))
        await ledger.apply(conn, "ledger", [stored(1, reported("r1", "10", 1)), stored(2, reported("r2", "20", 2))])
        await ledger.apply(conn, "ledger", [
            stored(3, reported("r1", "11", 1)),  # r1 filed again: its row is replaced
            stored(4, ProgressReportAccepted(report_id="r2", investment_accepted=Decimal(20))),  # an older report
            stored(5, reported("r3", "30", 3)),  # filed and accepted in one batch
            stored(6, ProgressReportAccepted(report_id="r3", investment_accepted=Decimal(30))),
        ])  # fmt: skip
        rows = {r["report_id"]: r for r in await conn.fetch("SELECT * FROM ledger.progress_reports")}
        assert sorted(rows) == ["r1", "r2", "r3"]
        summary = {
            k: (r["status"], r["last_seq"], json.loads(r["state"])["investment_this_period"]) for k, r in rows.items()
        }
        assert summary == {"r1": ("pending", 3, "11"), "r2": ("accepted", 4, "20"), "r3": ("accepted", 6, "30")}
    finally:
        await conn.close()
