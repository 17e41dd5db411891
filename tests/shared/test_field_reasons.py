"""Validation reasons in Chinese, made from pydantic's error types and their context (shared/field_reasons.py)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from shared.catalogue.dates import IsoDate
from shared.field_reasons import REASONS, chinese_reason


class Phase(StrEnum):
    A = "a"
    B = "b"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=3)]
    amount: Annotated[Decimal, Field(ge=0, decimal_places=2)]
    phase: Phase
    day: IsoDate
    flag: StrictBool
    items: Annotated[list[int], Field(max_length=1)]


def reasons(data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate(data)
    return {".".join(str(p) for p in e["loc"]): chinese_reason(e) for e in caught.value.errors()}


def test_each_reason_is_chinese_and_says_the_rule_with_its_figures() -> None:
    got = reasons({"name": "四个字符", "amount": "-1", "phase": "c", "day": "2024-13-01", "flag": "yes",
                   "items": [1, 2], "extra": 1})  # fmt: skip
    assert got == {
        "name": "长度不能超过 3 个字符",
        "amount": "应大于或等于 0",
        "phase": "应为以下之一:a、b",
        "day": "应为日期(YYYY-MM-DD)",
        "flag": "应为 true 或 false",
        "items": "最多 1 项",
        "extra": "不允许的字段",
    }
    assert reasons({})["name"] == "必填"


def test_an_unlisted_error_type_still_gets_a_chinese_reason_naming_the_type() -> None:
    assert "greater_than" in REASONS
    assert chinese_reason({"type": "some_future_type", "msg": "Whatever"}) == "取值无效(some_future_type)"
    assert chinese_reason({"type": "greater_than", "ctx": {}}) == "应大于"  # a context that lacks the figure
