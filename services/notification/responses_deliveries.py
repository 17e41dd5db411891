"""What the delivery log and the dead letters answer, as typed models (each field with its meaning in Chinese)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.catalogue.notification import Channel


class AttemptOutcomeView(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


class DeliveryAttemptView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notification_id: str = Field(description="通知编号(同时是接收方去重用的幂等键,如 webhook-id)")
    attempt: int = Field(description="第几次尝试(各轮累计)")
    round: int = Field(description="第几轮投递(死信重发后加一)")
    org_id: str = Field(description="接收机构")
    title: str | None = Field(description="通知标题")
    channel: Channel = Field(description="渠道:webhook、dingtalk、wecom、email、sms")
    contact_point_id: str | None = Field(description="所用联系方式编号")
    outcome: AttemptOutcomeView = Field(description="结果:delivered 已送达、retryable 暂时失败(将重试)、permanent 拒收")
    status_code: int | None = Field(description="对方的 HTTP 状态码、SMTP 应答码或机器人错误码")
    reason_code: str | None = Field(description="原因代码")
    response: str = Field(description="对方应答(截断,不含密钥)")
    attempted_at: datetime = Field(description="尝试时间(平台时钟)")
    next_attempt_at: datetime | None = Field(description="下一次尝试的时间;空为不再尝试")
    seq: int = Field(description="记录该尝试的事件流序号")


def attempt_view(row: dict[str, Any]) -> DeliveryAttemptView:
    return DeliveryAttemptView(**{name: row[name] for name in DeliveryAttemptView.model_fields})


class DeadLetterView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="通知编号(重发时保持不变,接收方据此去重)")
    org_id: str = Field(description="接收机构")
    person: str | None = Field(description="接收人")
    title: str | None = Field(description="通知标题")
    urgency: str | None = Field(description="紧急程度")
    requested_at: datetime | None = Field(description="通知生成时间")
    failed_at: datetime = Field(description="判定失败的时间")
    round: int = Field(description="第几轮投递")
    attempts: int = Field(description="累计尝试次数")
    last_channel: Channel | None = Field(description="最后尝试的渠道")
    reason: str | None = Field(description="失败原因")


def dead_letter_view(row: dict[str, Any]) -> DeadLetterView:
    return DeadLetterView(
        id=row["notification_id"], org_id=row["org_id"], person=row["person"], title=row["title"],
        urgency=row["urgency"], requested_at=row["recorded_at"], failed_at=row["updated_at"], round=row["round"],
        attempts=row["attempts"], last_channel=row["last_channel"], reason=row["reason"],
    )  # fmt: skip


class ResendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500, description="重发说明(如:已更正对方地址)")
