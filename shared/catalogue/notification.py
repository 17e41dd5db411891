"""Notification events: who hears what (aggregates `inbox`, `subscription`, `routing_rule_set`).

- `inbox` (one per recipient organisation, id = its org id): every notification lives inside its recipient's inbox,
  never on a subject of its own (subjects cost server memory; notifications number in millions). A notification goes
  requested -> attempt(s) -> delivered / failed, and read: `NotificationRequested`, `DeliveryAttempted`,
  `NotificationDelivered`, `DeliveryFailed`, `NotificationRead`, each naming the `notification_id`.
- `subscription` (one per organisation, id = its org id): its contact points (e-mail, webhook, DingTalk and WeCom
  robots; for the organisation or a named person in it such as a unit's 联络员 or a leader's secretary), its
  preferences (channels per urgency, quiet hours, digests) and what it subscribed to beyond the routing rules.
  Secrets (a webhook's or a robot's signing secret) are sealed before they enter the log (`SealedSecret`).
- `routing_rule_set` (one, id `default`): versioned routing rules with effective dates (event type and conditions ->
  recipients -> urgency), as the issue rules are versioned (shared.catalogue.issue_rules).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from shared.catalogue.dates import IsoDate
from shared.catalogue.notification_rules import RoutingRules, Urgency
from shared.catalogue.registry import event

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


URGENCY_LABELS: dict[Urgency, str] = {
    Urgency.INFO: "提示", Urgency.NORMAL: "一般", Urgency.URGENT: "紧急", Urgency.CRITICAL: "特急",
}  # fmt: skip


class Channel(StrEnum):
    INBOX = "inbox"  # 站内消息(总会记录,不需要联系方式)
    EMAIL = "email"  # 电子邮件
    WEBHOOK = "webhook"  # 单位自有系统(Standard Webhooks)
    DINGTALK = "dingtalk"  # 钉钉群机器人
    WECOM = "wecom"  # 企业微信群机器人
    SMS = "sms"  # 短信


class LinkKind(StrEnum):
    PROJECT = "project"
    ISSUE = "issue"
    SUPERVISION_ORDER = "supervision_order"
    DISPATCH_MEETING = "dispatch_meeting"
    CHANGE_REQUEST = "change_request"
    PLAN = "plan"


class Link(BaseModel):
    """What the notification is about, for a client to open it."""

    kind: LinkKind
    id: str
    project_id: str | None = None


# -- inbox -------------------------------------------------------------------------------------------------------


@event("NotificationRequested", aggregate="inbox")
class NotificationRequested(BaseModel):
    """A notification for the inbox's organisation. `notification_id` is derived from (source event id, rule,
    recipient): a redelivery, a restart or a second replica requests nothing twice."""

    notification_id: str
    source_event_id: str
    source_event_type: str
    rule_id: str
    rule_version: StrictInt
    urgency: Urgency
    title: str
    body: str
    link: Link | None = None
    person: str | None = None  # a named person of the organisation the rule addresses (联络员, secretary), if any
    # A digest (the delivery engine's timers): the notifications of this inbox it gathers, held until now.
    digest_of: list[str] = Field(default_factory=list, max_length=500)


@event("NotificationRead", aggregate="inbox")
class NotificationRead(BaseModel):
    notification_id: str
    read_at: AwareDatetime  # on the platform's clock


class AttemptOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"


@event("DeliveryAttempted", aggregate="inbox")
class DeliveryAttempted(BaseModel):
    """One try on one channel (the delivery engine's): what the peer answered, recorded whatever it was."""

    notification_id: str
    channel: Channel
    contact_point_id: str | None = None
    attempt: StrictInt = Field(ge=1)
    outcome: AttemptOutcome
    idempotency_key: str  # what receivers drop duplicates by (a webhook's `webhook-id`)
    status_code: StrictInt | None = None
    response: str = Field(default="", max_length=2000)  # the peer's answer, shortened; never a secret
    next_attempt_at: AwareDatetime | None = None
    # The delivery engine's: a refusal for good (bad address, 4xx) moves to the next channel of the fallback chain
    # at once, a failure that may pass (5xx, 429, timeout) is retried first; and the channel's reason code.
    permanent: bool = False
    reason_code: str | None = Field(default=None, max_length=64)


@event("NotificationDelivered", aggregate="inbox")
class NotificationDelivered(BaseModel):
    notification_id: str
    channel: Channel
    contact_point_id: str | None = None
    attempts: StrictInt = Field(ge=1)


@event("DeliveryFailed", aggregate="inbox")
class DeliveryFailed(BaseModel):
    """Every try on every channel of the fallback chain failed: a dead letter hq sees and may resend (same key)."""

    notification_id: str
    channel: Channel
    contact_point_id: str | None = None
    attempts: StrictInt = Field(ge=1)
    reason: str


# -- subscription: contact points, preferences, subscriptions of one organisation ----------------------------------


class SealedSecret(BaseModel):
    """A signing secret as the log keeps it: sealed with the notification service's key (AES-GCM), and a hint."""

    sealed: str  # base64 of nonce + ciphertext
    hint: str  # e.g. "****3f9a": what answers show


class ContactKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    DINGTALK = "dingtalk"
    WECOM = "wecom"
    SMS = "sms"


@event("ContactPointConfigured", aggregate="subscription")
class ContactPointConfigured(BaseModel):
    """A contact point added or replaced (same `contact_point_id`)."""

    contact_point_id: Slug
    kind: ContactKind
    address: str  # e-mail address, webhook or robot URL, phone number
    label: str = ""
    person: str | None = None  # a named person of the organisation (联络员, secretary), None: the organisation
    secret: SealedSecret | None = None
    enabled: bool = True


@event("ContactPointRemoved", aggregate="subscription")
class ContactPointRemoved(BaseModel):
    contact_point_id: Slug


class QuietHours(BaseModel):
    """China time; `start` after `end` spans midnight (22:00-07:00). Critical notifications ignore them."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Digest(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"


class Preferences(BaseModel):
    """What the delivery engine reads: the channels tried per urgency (in order: the fallback chain), quiet hours
    and whether single messages of low urgency are gathered into a digest."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[Urgency, list[Channel]] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    digest: Digest = Digest.NONE


@event("PreferencesChanged", aggregate="subscription")
class PreferencesChanged(BaseModel):
    preferences: Preferences


@event("SubscriptionAdded", aggregate="subscription")
class SubscriptionAdded(BaseModel):
    """A named subscriber: the organisation hears of these event types (about this project, or any it may see)."""

    subscription_id: Slug
    event_types: list[str]
    project_id: str | None = None


@event("SubscriptionRemoved", aggregate="subscription")
class SubscriptionRemoved(BaseModel):
    subscription_id: Slug


# -- routing rules ---------------------------------------------------------------------------------------------------


@event("RoutingRulesPublished", aggregate="routing_rule_set")
class RoutingRulesPublished(BaseModel):
    """A whole version of the routing rules, in force for source events recorded from `effective_from` on."""

    version: int = Field(ge=1)
    effective_from: IsoDate
    rules: RoutingRules
    note: str = ""
