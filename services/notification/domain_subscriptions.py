"""An organisation's contact points, preferences and subscriptions as one aggregate (`subscription`, id = its org
id). Pure: the secret arrives sealed (secret_box.py), the address is checked here.

Webhook and robot URLs must be https; plain http is accepted on loopback in development only (issue 10). A contact
point replaced without a new secret keeps its sealed one (a label change does not make a unit type its secret
again).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from services.notification.channels.network_guard import NetworkGuard
from services.notification.commands import ContactPointBody, SubscribeBody
from shared.catalogue.notification import (
    ContactKind,
    ContactPointConfigured,
    ContactPointRemoved,
    Preferences,
    PreferencesChanged,
    SealedSecret,
    SubscriptionAdded,
    SubscriptionRemoved,
)
from shared.domain_errors import conflict, invalid, not_found
from shared.envelope import Envelope

MAX_CONTACT_POINTS = 20
MAX_SUBSCRIPTIONS = 50
EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
PHONE = re.compile(r"^\+?[0-9]{6,15}$")
URL_KINDS = frozenset({ContactKind.WEBHOOK, ContactKind.DINGTALK, ContactKind.WECOM})


class SubscriptionState(BaseModel):
    org_id: str
    contact_points: dict[str, ContactPointConfigured] = Field(default_factory=dict)
    preferences: Preferences = Field(default_factory=Preferences)
    subscriptions: dict[str, SubscriptionAdded] = Field(default_factory=dict)


def _contact_point(s: SubscriptionState, p: ContactPointConfigured) -> dict[str, Any]:
    return {"contact_points": {**s.contact_points, p.contact_point_id: p}}


def _removed(s: SubscriptionState, p: ContactPointRemoved) -> dict[str, Any]:
    return {"contact_points": {k: v for k, v in s.contact_points.items() if k != p.contact_point_id}}


def _preferences(s: SubscriptionState, p: PreferencesChanged) -> dict[str, Any]:
    return {"preferences": p.preferences}


def _subscribed(s: SubscriptionState, p: SubscriptionAdded) -> dict[str, Any]:
    return {"subscriptions": {**s.subscriptions, p.subscription_id: p}}


def _unsubscribed(s: SubscriptionState, p: SubscriptionRemoved) -> dict[str, Any]:
    return {"subscriptions": {k: v for k, v in s.subscriptions.items() if k != p.subscription_id}}


CHANGES: Mapping[type[BaseModel], Callable[[SubscriptionState, Any], dict[str, Any]]] = {
    ContactPointConfigured: _contact_point, ContactPointRemoved: _removed, PreferencesChanged: _preferences,
    SubscriptionAdded: _subscribed, SubscriptionRemoved: _unsubscribed,
}  # fmt: skip


def evolve_subscription(state: SubscriptionState | None, env: Envelope, payload: BaseModel | None) -> SubscriptionState:
    current = state or SubscriptionState(org_id=env.aggregate_id)
    change = CHANGES.get(type(payload)) if payload is not None else None
    if change is None:
        raise ValueError(f"cannot apply {env.type} to subscription {env.aggregate_id}")
    return current.model_copy(update=change(current, payload))


PRIVATE_ADDRESS = "不得指向内网、本机或保留地址(政务外网等网段须由运维在 TIAODU_WEBHOOK_ALLOWED_NETWORKS 中放行)"


def _check_url(address: str, development: bool, guard: NetworkGuard | None) -> None:
    parts = urlsplit(address)
    if parts.scheme == "https" and parts.hostname:
        if guard is not None and guard.host_refusal(parts.hostname):
            raise invalid(
                "address",
                "不得指向内网、本机或保留地址(政务外网等网段须由运维在 TIAODU_WEBHOOK_ALLOWED_NETWORKS 中放行)",
            )
        return
    if parts.scheme == "http" and parts.hostname and development and _loopback(parts.hostname):
        return
    reason = "须为 https 地址" + ("(开发环境下可用本机 http 地址)" if development else "")
    raise invalid("address", reason)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(kind: ContactKind, address: str, development: bool, guard: NetworkGuard | None = None) -> None:
    """`guard` (outside development) refuses a webhook or robot host written as a private address; what a name
    resolves to is checked again before every send (channels/network_guard.py)."""
    if kind == ContactKind.EMAIL and not EMAIL.match(address):
        raise invalid("address", "不是有效的电子邮件地址")
    if kind == ContactKind.SMS and not PHONE.match(address):
        raise invalid("address", "不是有效的手机号码")
    if kind in URL_KINDS:
        _check_url(address, development, guard)


def decide_configure_contact_point(
    state: SubscriptionState | None, contact_point_id: str, body: ContactPointBody, sealed: SealedSecret | None,
    *, development: bool, creating: bool, guard: NetworkGuard | None = None,
) -> ContactPointConfigured:  # fmt: skip
    points = state.contact_points if state else {}
    existing = points.get(contact_point_id)
    if creating and existing is None and len(points) >= MAX_CONTACT_POINTS:
        raise invalid("contact_point_id", f"每个机构最多 {MAX_CONTACT_POINTS} 个联系方式")
    if not creating and existing is None:
        raise not_found("contact_point_id", "联系方式不存在")
    check_address(body.kind, body.address, development, guard)
    secret = sealed or (existing.secret if existing is not None and existing.kind == body.kind else None)
    return ContactPointConfigured(
        contact_point_id=contact_point_id, kind=body.kind, address=body.address, label=body.label,
        person=body.person, secret=secret, enabled=body.enabled,
    )  # fmt: skip


def decide_remove_contact_point(state: SubscriptionState | None, contact_point_id: str) -> ContactPointRemoved:
    if state is None or contact_point_id not in state.contact_points:
        raise not_found("contact_point_id", "联系方式不存在")
    return ContactPointRemoved(contact_point_id=contact_point_id)


def decide_preferences(state: SubscriptionState | None, preferences: Preferences) -> PreferencesChanged | None:
    if state is not None and state.preferences == preferences:
        return None
    return PreferencesChanged(preferences=preferences)


def decide_subscribe(
    state: SubscriptionState | None, subscription_id: str, body: SubscribeBody, routable: Collection[str]
) -> SubscriptionAdded | None:
    current = state.subscriptions if state else {}
    if subscription_id in current:
        return None  # a keyed retry of the same subscription
    if len(current) >= MAX_SUBSCRIPTIONS:
        raise conflict("subscription_id", f"每个机构最多 {MAX_SUBSCRIPTIONS} 个订阅")
    for i, event_type in enumerate(body.event_types):
        if event_type not in routable:
            raise invalid(f"event_types[{i}]", f"不支持订阅的事件类型 {event_type}")
    return SubscriptionAdded(
        subscription_id=subscription_id, event_types=list(dict.fromkeys(body.event_types)), project_id=body.project_id
    )


def decide_unsubscribe(state: SubscriptionState | None, subscription_id: str) -> SubscriptionRemoved:
    if state is None or subscription_id not in state.subscriptions:
        raise not_found("subscription_id", "订阅不存在")
    return SubscriptionRemoved(subscription_id=subscription_id)
