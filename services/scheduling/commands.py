"""What clients send to scheduling, validated field by field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.catalogue.scheduling import Attendee, ExemptionScope, MeetingKind, PlanContent, Rules

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Reason = Annotated[str, Field(min_length=2, max_length=1000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlanBody(PlanContent):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DraftPlan(PlanBody):
    project_id: Slug
    year: int = Field(ge=2000, le=2100)


class ReviseDraft(PlanBody):
    pass


class ApproveBaseline(Strict):
    note: str = Field(default="", max_length=1000)


class Rebaseline(Strict):
    to_date: date
    reason: Reason


class CompleteMilestone(Strict):
    done_on: date


class RequestExemption(Strict):
    scope: ExemptionScope
    milestone_id: Slug | None = None
    period_start: date | None = None
    period_end: date | None = None
    reason: Reason
    evidence: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=20)


class DecideExemption(Strict):
    note: str = Field(default="", max_length=1000)


class PublishRules(Strict):
    effective_from: date
    rules: Rules
    note: str = Field(default="", max_length=1000)


class RunMonitoring(Strict):
    day: date | None = None


class ScheduleMeeting(Strict):
    kind: MeetingKind
    title: str = Field(min_length=1, max_length=200)
    scheduled_for: datetime
    programme_id: Slug
    unit_id: Slug | None = None
    chair_id: Slug | None = None


class RecordAttendance(Strict):
    attendees: list[Attendee] = Field(min_length=1, max_length=200)


class RecordMinutes(Strict):
    minutes: str = Field(min_length=1, max_length=20000)


class RecordDecision(Strict):
    text: str = Field(min_length=2, max_length=2000)
    owner_unit_id: Slug
    deadline: date
    project_id: Slug | None = None
