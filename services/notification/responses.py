"""What the notification API answers, as typed models (each field with its meaning in Chinese)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.catalogue.notification import URGENCY_LABELS, Digest, LinkKind
from shared.catalogue.notification_rules import Urgency


class Written(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="对象编号")
    version: int = Field(description="对象的新版本号(用于 If-Match)")
    seq: int = Field(description="事件流序号(读取时可带 min_seq 等待读模型到达)")


class NotificationView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="通知编号")
    org_id: str = Field(description="接收机构")
    person: str | None = Field(description="接收人(机构内的具名联系人,如联络员、秘书);空为机构本身")
    seq: int = Field(description="通知请求的事件流序号(实时推送的事件编号)")
    recorded_at: datetime = Field(description="生成时间")
    urgency: Urgency = Field(description="紧急程度:info 提示、normal 一般、urgent 紧急、critical 特急")
    urgency_label: str = Field(description="紧急程度(中文)")
    title: str = Field(description="标题")
    body: str = Field(description="正文")
    link_kind: LinkKind | None = Field(description="关联对象类型")
    link_id: str | None = Field(description="关联对象编号")
    project_id: str | None = Field(description="关联项目编号")
    source_event_type: str = Field(description="引起通知的事件类型")
    source_event_id: str = Field(description="引起通知的事件编号")
    rule_id: str = Field(description="路由规则编号")
    rule_version: int = Field(description="路由规则版本")
    read: bool = Field(description="是否已读")
    read_at: datetime | None = Field(description="阅读时间")
    status: str = Field(
        description="投递状态:requested 待投递、delivered 已送达、failed 投递失败(死信)、resending 重发中(指挥部办公室"
        "重发死信后的新一轮)、digest 待汇总(按接收方偏好并入每日或每周汇总)、digested 已汇总(随 digest_id 所指的汇总"
        "通知送达)"
    )
    attempts: int = Field(description="投递尝试次数")
    digest: Digest | None = Field(description="并入的汇总:daily 每日汇总、weekly 每周汇总;单独投递的为空")
    digest_id: str | None = Field(description="汇总后:送达它的汇总通知的编号;尚未汇总或单独投递的为空")


def notification_view(row: dict[str, Any]) -> NotificationView:
    urgency = Urgency(row["urgency"])
    return NotificationView(
        id=row["notification_id"], org_id=row["org_id"], person=row["person"], seq=row["seq"],
        recorded_at=row["recorded_at"], urgency=urgency, urgency_label=URGENCY_LABELS[urgency], title=row["title"],
        body=row["body"], link_kind=row["link_kind"], link_id=row["link_id"], project_id=row["project_id"],
        source_event_type=row["source_event_type"], source_event_id=row["source_event_id"], rule_id=row["rule_id"],
        rule_version=row["rule_version"], read=row["read_at"] is not None, read_at=row["read_at"],
        status=row["status"], attempts=row["attempts"], digest=row["digest"], digest_id=row["digest_id"],
    )  # fmt: skip


class UnreadCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(description="机构")
    unread: int = Field(description="未读通知数")
