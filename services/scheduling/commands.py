"""What clients send to scheduling (`...Body`, validated field by field) and the whole commands handlers take.

A command carries every id, those from the path included: a route builds it from the body and the path and
makes one call, `handlers.x(rt, cmd, meta)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StrictInt

from shared.catalogue.dates import IsoDate
from shared.catalogue.scheduling import Attendee, ExemptionScope, MeetingKind, PlanContent, Rules
from shared.command_bodies import Strict
from shared.money import Money

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Reason = Annotated[str, Field(min_length=2, max_length=1000)]
Note = Annotated[str, Field(max_length=1000)]


# -- plans ------------------------------------------------------------------------------------------------------


class PlanBody(PlanContent):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Money on the API is a decimal string (shared.money); the events keep the catalogue's type.
    annual_target_investment: Money = Field(description="年度目标投资(万元)")
    monthly_investment: list[Money] = Field(min_length=12, max_length=12, description="1-12 月计划投资(万元)")


class DraftPlan(PlanBody):
    project_id: Slug
    year: StrictInt = Field(ge=2000, le=2100)


class ReviseDraftBody(PlanBody):
    pass


class ReviseDraft(ReviseDraftBody):
    plan_id: str


class ApproveBaselineBody(Strict):
    note: Note = ""


class ApproveBaseline(ApproveBaselineBody):
    plan_id: str


class RebaselineBody(Strict):
    to_date: IsoDate
    reason: Reason


class Rebaseline(RebaselineBody):
    plan_id: str
    milestone_id: str


class CompleteMilestoneBody(Strict):
    done_on: IsoDate


class CompleteMilestone(CompleteMilestoneBody):
    plan_id: str
    milestone_id: str


class RequestExemptionBody(Strict):
    scope: ExemptionScope
    milestone_id: Slug | None = None
    period_start: IsoDate | None = None
    period_end: IsoDate | None = None
    reason: Reason
    evidence: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=20)
    attachments: list[Slug] = Field(
        default_factory=list, max_length=20, description="证明材料的附件编号(先经 POST /v1/attachments 上传到本项目)"
    )


class RequestExemption(RequestExemptionBody):
    plan_id: str


class DecideExemptionBody(Strict):
    note: Note = ""


class DecideExemption(DecideExemptionBody):
    plan_id: str
    exemption_id: str
    approve: StrictBool


# -- rules and monitoring ---------------------------------------------------------------------------------------


class PublishRules(Strict):
    effective_from: IsoDate
    rules: Rules
    note: Note = ""


class RunMonitoring(Strict):
    day: IsoDate | None = None


# -- dispatch meetings ------------------------------------------------------------------------------------------


class ScheduleMeeting(Strict):
    kind: MeetingKind
    title: str = Field(min_length=1, max_length=200)
    scheduled_for: datetime
    programme_id: Slug
    unit_id: Slug | None = None
    chair_id: Slug | None = None


class RecordAttendanceBody(Strict):
    attendees: list[Attendee] = Field(min_length=1, max_length=200)


class RecordAttendance(RecordAttendanceBody):
    meeting_id: str


class RecordMinutesBody(Strict):
    minutes: str = Field(min_length=1, max_length=20000)


class RecordMinutes(RecordMinutesBody):
    meeting_id: str


class RecordDecisionBody(Strict):
    text: str = Field(min_length=2, max_length=2000)
    owner_unit_id: Slug
    deadline: IsoDate
    project_id: Slug | None = None


class RecordDecision(RecordDecisionBody):
    meeting_id: str
