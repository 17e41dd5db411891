"""What the settings API answers: contact points (secrets as a hint only; a robot URL's token masked the same way),
preferences, subscriptions."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from services.notification.domain_subscriptions import URL_KINDS
from services.notification.secret_box import hint
from shared.catalogue.notification import ContactKind, ContactPointConfigured, Preferences, SubscriptionAdded


class SettingWritten(BaseModel):
    """A write to an organisation's settings: the contact point or subscription, and the settings' new version."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="联系方式或订阅的编号")
    org_id: str = Field(description="所属机构")
    version: int = Field(description="该机构设置的新版本号(用于 If-Match)")
    seq: int = Field(description="事件流序号(读取时可带 min_seq 等待读模型到达)")


class ContactPointView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="联系方式编号")
    org_id: str = Field(description="所属机构")
    kind: ContactKind = Field(description="email、webhook、dingtalk、wecom、sms")
    address: str = Field(description="地址(机器人地址中的令牌只显示末四位)")
    label: str = Field(description="名称")
    person: str | None = Field(description="机构内的具名联系人;空为机构本身")
    enabled: bool = Field(description="是否启用")
    secret_hint: str | None = Field(description="签名密钥提示(只显示末四位);空为未设置")


def masked_address(kind: ContactKind, address: str) -> str:
    """A robot's URL carries its token in the query (DingTalk `access_token`, WeCom `key`): shown as a hint."""
    if kind not in URL_KINDS:
        return address
    parts = urlsplit(address)
    query = urlencode([(k, hint(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def contact_point_view(org_id: str, p: ContactPointConfigured) -> ContactPointView:
    return ContactPointView(
        id=p.contact_point_id, org_id=org_id, kind=p.kind, address=masked_address(p.kind, p.address), label=p.label,
        person=p.person, enabled=p.enabled, secret_hint=p.secret.hint if p.secret else None,
    )  # fmt: skip


class PreferencesView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(description="机构")
    version: int = Field(description="设置的版本号(用于 If-Match;0 为从未设置)")
    preferences: Preferences = Field(description="接收偏好")


class SubscriptionView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="订阅编号")
    org_id: str = Field(description="订阅机构")
    event_types: list[str] = Field(description="事件类型")
    project_id: str | None = Field(description="限定的项目;空为可见的全部项目")


def subscription_view(org_id: str, s: SubscriptionAdded) -> SubscriptionView:
    return SubscriptionView(id=s.subscription_id, org_id=org_id, event_types=s.event_types, project_id=s.project_id)
