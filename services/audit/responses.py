"""What the audit API answers: events as the index holds them, histories, diffs and verification runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
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


class EventPage(Answer):
    """A page of /v1/audit/events: the platform's page shape, with an honest total and keyset paging's `has_more`."""

    items: list[EventView] = Field(description="本页事件(按流序号)")
    total: int = Field(ge=0, description="有筛选条件时:符合条件的精确条数;无筛选条件时:事件索引的最高流序号"
                       "(高水位:日志序号无空缺,仅当有事件被投影搁置时大于实际条数),不逐条计数")  # fmt: skip
    total_exact: bool = Field(description="total 是否为精确计数(有筛选条件时为 true)")
    has_more: bool = Field(description="本页之后是否还有符合条件的事件(按键翻页时以此判断是否继续)")
    limit: int = Field(ge=1, description="每页条数")
    offset: int = Field(ge=0, description="跳过条数")


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


class EventRef(Answer):
    seq: int = Field(description="事件流序号")
    id: uuid.UUID = Field(description="事件编号")
    type: str = Field(description="事件类型")
    version: int = Field(description="聚合版本")
    recorded_at: datetime = Field(description="记录时间")
    actor: ActorView = Field(description="操作者")
    correlation_id: str = Field(description="关联编号")


def event_ref(row: Mapping[str, Any]) -> EventRef:
    return EventRef(
        seq=row["seq"], id=row["event_id"], type=row["type"], version=row["version"], recorded_at=row["recorded_at"],
        actor=ActorView(org_id=row["actor_org"], role=row["actor_role"], user=row["actor_user"],
                        on_behalf_of=row["on_behalf_of"]),
        correlation_id=row["correlation_id"],
    )  # fmt: skip


class FieldChangeView(Answer):
    field: str = Field(description="字段路径(嵌套对象以 . 连接)")
    before: Any = Field(description="前一时刻的值(未设置为 null)")
    after: Any = Field(description="后一时刻的值(未设置为 null)")
    before_set: bool = Field(description="前一时刻该字段是否已设置")
    after_set: bool = Field(description="后一时刻该字段是否已设置")
    changed_by: EventRef = Field(description="改变该字段的事件(后一时刻之前最后设置或移除它的事件)")


class AggregateDiff(Answer):
    aggregate_type: str = Field(description="聚合类型")
    aggregate_id: str = Field(description="聚合编号")
    from_: datetime = Field(alias="from", description="前一时刻(记录时间)")
    to: datetime = Field(description="后一时刻(记录时间)")
    version_from: int = Field(ge=0, description="前一时刻的聚合版本(0:尚不存在)")
    version_to: int = Field(ge=0, description="后一时刻的聚合版本")
    events: list[EventRef] = Field(description="两时刻之间记录的事件")
    changes: list[FieldChangeView] = Field(description="值不同的字段")


class ChainBreakView(Answer):
    aggregate_type: str = Field(description="聚合类型(存储主题无法解析时为空)")
    aggregate_id: str = Field(description="聚合编号(存储主题无法解析时为该主题)")
    seq: int = Field(description="该聚合第一处断链的事件流序号")
    reason: str = Field(description="断链原因")
    breaks: int = Field(ge=1, description="该聚合的断链事件数")


class VerificationRunView(Answer):
    id: uuid.UUID = Field(description="校验编号")
    status: str = Field(description="running 进行中 / completed 完成 / failed 失败 / abandoned 执行进程已退出")
    requested_by: ActorView = Field(description="发起者")
    requested_at: datetime = Field(description="发起时间")
    finished_at: datetime | None = Field(description="结束时间")
    until_seq: int = Field(description="校验到的事件流序号(发起时日志末尾)")
    events: int = Field(ge=0, description="已校验事件数")
    aggregates: int = Field(ge=0, description="已校验聚合数")
    broken_aggregates: int = Field(ge=0, description="断链聚合数")
    intact: bool | None = Field(description="全部哈希链完好(未完成时为 null)")
    error: str | None = Field(description="失败原因")
    breaks: list[ChainBreakView] = Field(description="每个断链聚合的第一处断链(按序号,分页)")
    breaks_total: int = Field(ge=0, description="断链聚合总数")
    limit: int = Field(ge=1, description="断链列表每页条数")
    offset: int = Field(ge=0, description="断链列表跳过条数")
