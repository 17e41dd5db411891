"""What clients send: commands as pydantic models (XCreate / XUpdate style), validated field by field."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.catalogue.intake import (
    Amount,
    Category,
    ConstructionType,
    MilestoneDone,
    Phase,
    SubProject,
    TaskForce,
)

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]

# 全国投资项目在线审批监管平台 项目代码: 24 characters, YYYY-AAAAAA-II-TT-NNNNNN: year of filing, the
# 6-digit administrative division code, industry code, project type, serial number.
NATIONAL_CODE_RE = re.compile(r"^(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})$")


def check_national_code(value: str) -> str:
    match = NATIONAL_CODE_RE.match(value)
    if match is None:
        raise ValueError("national project code must be 24 characters: YYYY-AAAAAA-II-TT-NNNNNN")
    if not 2000 <= int(match.group(1)) <= 2100:
        raise ValueError("national project code: the first 4 digits must be a year (2000-2100)")
    if match.group(2)[:2] in {"00"}:
        raise ValueError("national project code: characters 6-11 must be an administrative division code")
    return value


NationalCode = Annotated[str, AfterValidator(check_national_code)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterProgramme(Strict):
    id: Slug | None = None
    name: Text
    year: int = Field(ge=2000, le=2100)
    description: str = Field(default="", max_length=2000)
    demo: bool = False


class RegisterProject(Strict):
    id: Slug | None = None
    programme_id: Slug
    code: NationalCode | None = Field(default=None, description="全国投资项目代码(24位),可选")
    name: Text
    category: Category
    unit_id: Slug
    sponsor_leader_id: Slug | None = None
    task_force: TaskForce | None = None
    location: Text
    construction_content: str = Field(default="", max_length=4000)
    construction_type: ConstructionType
    total_investment: Amount
    annual_planned_investment: Amount
    planned_start: date
    planned_completion: date
    sub_projects: list[SubProject] = Field(default_factory=list, max_length=50)
    demo: bool = False


class AmendProject(Strict):
    code: NationalCode | None = None
    name: Text | None = None
    location: Text | None = None
    construction_content: str | None = Field(default=None, max_length=4000)
    construction_type: ConstructionType | None = None
    total_investment: Amount | None = None
    annual_planned_investment: Amount | None = None
    planned_start: date | None = None
    planned_completion: date | None = None
    sub_projects: list[SubProject] | None = Field(default=None, max_length=50)


class AssignTaskForce(Strict):
    task_force: TaskForce


class AssignSponsor(Strict):
    sponsor_leader_id: Slug


class ChangePhase(Strict):
    phase: Phase
    reason: str = Field(min_length=2, max_length=1000)


class ReportProgress(Strict):
    period_start: date
    period_end: date
    investment_this_period: Amount
    image_progress_pct: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]
    image_progress_text: str = Field(default="", max_length=4000)
    milestones_done: list[MilestoneDone] = Field(default_factory=list, max_length=50)
