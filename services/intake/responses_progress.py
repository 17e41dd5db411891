"""What the progress ledger's operations answer, as documented types: a filed report, the ledger's page of reports
with their history, and the ledger's totals. Amounts are `shared.money.Money` (decimal strings in 万元).

A report's history shows each event as it was recorded: its payload is the event's own, restated here with the
money fields as Money. Payloads keep any field an older version of the event carried (`extra="allow"`): history is
what was written, never trimmed to today's shape.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from services.intake.progress import ReportState
from shared.catalogue.intake import (
    ProgressReportAccepted,
    ProgressReportCorrected,
    ProgressReported,
    ProgressReportReturned,
)
from shared.money import Money
from shared.paging import Page
from shared.responses import ANSWER_CONFIG, Answer, Written

HISTORY_PAYLOAD = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)


class ReportFiledAnswer(Written):
    """A progress report filed (待审核): the project's new version and the report's id."""

    report_id: str = Field(description="填报编号(更正、审核时使用)")


class ReportedPayload(ProgressReported):
    model_config = HISTORY_PAYLOAD
    investment_this_period: Money = Field(description="本期完成投资(万元)")
    cumulative_investment: Money = Field(description="填报时的累计完成投资(万元)")


class CorrectedPayload(ProgressReportCorrected):
    model_config = HISTORY_PAYLOAD
    investment_this_period: Money = Field(description="更正后的本期完成投资(万元)")
    investment_before: Money = Field(description="更正前的本期完成投资(万元)")


class AcceptedPayload(ProgressReportAccepted):
    model_config = HISTORY_PAYLOAD
    investment_accepted: Money = Field(description="审核通过计入累计完成投资的金额(万元)")
    investment_previously_accepted: Money = Field(
        default=Decimal(0), description="此前审核通过时计入的金额(万元),由本次替换"
    )


class ReturnedPayload(ProgressReportReturned):
    model_config = HISTORY_PAYLOAD


class _HistoryEntry(Answer):
    seq: int = Field(ge=1, description="事件流序号")
    actor: str = Field(description="操作机构编号")
    recorded_at: datetime = Field(description="记录时间")


class ReportedEntry(_HistoryEntry):
    type: Literal["ProgressReported"] = Field(description="填报")
    payload: ReportedPayload


class CorrectedEntry(_HistoryEntry):
    type: Literal["ProgressReportCorrected"] = Field(description="更正")
    payload: CorrectedPayload


class AcceptedEntry(_HistoryEntry):
    type: Literal["ProgressReportAccepted"] = Field(description="审核通过")
    payload: AcceptedPayload


class ReturnedEntry(_HistoryEntry):
    type: Literal["ProgressReportReturned"] = Field(description="退回")
    payload: ReturnedPayload


HistoryEntry = Annotated[ReportedEntry | CorrectedEntry | AcceptedEntry | ReturnedEntry, Field(discriminator="type")]


class ReportAnswer(ReportState):
    """A report in the ledger: its figures as they stand (the latest correction), its review status and history."""

    model_config = ANSWER_CONFIG
    investment_this_period: Money = Field(description="本期完成投资(万元,按最近一次更正)")
    accepted_investment: Money = Field(default=Decimal(0), description="审核通过时计入累计完成投资的金额(万元)")
    seq: int = Field(ge=1, description="该填报最近一个事件的流序号")
    history: list[HistoryEntry] = Field(description="原始填报、每次更正(含理由)与每次审核,按先后")


class ProgressLedgerPage(Page[ReportAnswer]):
    """A page of a project's progress reports, with the ledger's totals over all of them."""

    model_config = ANSWER_CONFIG
    cumulative_investment: Money = Field(description="累计完成投资(万元,只计审核通过的填报)")
    pending_reports: int = Field(ge=0, description="待审核的填报数")
    pending_investment: Money = Field(description="待审核填报的本期投资之和(万元)")
