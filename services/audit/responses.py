"""What the audit API answers: events as the index holds them, histories, diffs and verification runs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import Field

from shared.responses import Answer


class ActorView(Answer):
    org_id: str = Field(description="操作机构")
    role: str = Field(description="操作角色")
    user: str | None = Field(description="操作人")
    on_behalf_of: str | None = Field(description="代表谁操作")


class EventView(Answer):
    seq: int = Field(description="事件流序号")
    id: uuid.UUID = Field(description="事件编号")
    type: str = Field(description="事件类型")
    schema_version: int = Field(description="载荷结构版本")
    aggregate_type: str = Field(description="聚合类型")
    aggregate_id: str = Field(description="聚合编号")
    version: int = Field(description="聚合版本")
    recorded_at: datetime = Field(description="记录时间(平台写入日志的时刻)")
    occurred_at: datetime = Field(description="发生时间")
    actor: ActorView = Field(description="操作者")
    correlation_id: str = Field(description="关联编号(同一请求引起的全部事件相同)")
    causation_id: str | None = Field(description="起因事件编号")
    hash: str = Field(description="本事件哈希(RFC 8785 规范化后 SHA-256)")
    prev_hash: str | None = Field(description="同一聚合上一事件的哈希")
    payload: dict[str, Any] = Field(description="事件载荷")


def event_view(row: asyncpg.Record) -> EventView:
    return EventView(
        seq=row["seq"], id=row["event_id"], type=row["type"], schema_version=row["schema_version"],
        aggregate_type=row["aggregate_type"], aggregate_id=row["aggregate_id"], version=row["version"],
        recorded_at=row["recorded_at"], occurred_at=row["occurred_at"],
        actor=ActorView(org_id=row["actor_org"], role=row["actor_role"], user=row["actor_user"],
                        on_behalf_of=row["on_behalf_of"]),
        correlation_id=row["correlation_id"], causation_id=row["causation_id"], hash=row["hash"],
        prev_hash=row["prev_hash"], payload=json.loads(row["payload"]),
    )  # fmt: skip
