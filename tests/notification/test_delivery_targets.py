"""The fallback chain as a pure decision: which contact points, in which order, for an urgency and a person."""

from __future__ import annotations

from typing import Any

from services.notification.delivery_targets import ContactPoint, EndpointFactory, chain_of, recipient_of
from shared.catalogue.notification import Channel, ContactKind, Digest, Preferences, QuietHours

ENDPOINTS: dict[Channel, EndpointFactory] = {
    Channel.WEBHOOK: lambda p: p.address if p.secret else None,  # a webhook without its secret cannot sign
    Channel.EMAIL: lambda p: p.address,
    Channel.DINGTALK: lambda p: p.address,
}
POINTS = [
    ContactPoint("cp-mail", ContactKind.EMAIL, "office@unit.example"),
    ContactPoint("cp-mail-wang", ContactKind.EMAIL, "wang@unit.example", person="联络员王芳"),
    ContactPoint("cp-hook", ContactKind.WEBHOOK, "https://unit.example/hooks", secret="whsec_x"),
    ContactPoint("cp-hook-nosecret", ContactKind.WEBHOOK, "https://unit.example/other"),
    ContactPoint("cp-ding", ContactKind.DINGTALK, "https://oapi.dingtalk.com/robot/send?access_token=t", enabled=False),
    ContactPoint("cp-sms", ContactKind.SMS, "13800000000"),
]


def names(chain: Any) -> list[str]:
    return [t.name for t in chain]


def test_without_preferences_the_default_order_of_the_usable_points() -> None:
    chain = chain_of(POINTS, Preferences(), "urgent", None, ENDPOINTS)
    # the disabled robot, the webhook without a secret, another person's mailbox and SMS (no channel here) are out
    assert names(chain) == ["webhook:cp-hook", "email:cp-mail"]


def test_the_preferred_channels_for_the_urgency_in_their_order_and_the_named_person_first() -> None:
    prefs = Preferences(channels={"critical": [Channel.EMAIL, Channel.WEBHOOK], "normal": [Channel.INBOX]})
    assert names(chain_of(POINTS, prefs, "critical", "联络员王芳", ENDPOINTS)) == [
        "email:cp-mail-wang", "email:cp-mail", "webhook:cp-hook",
    ]  # fmt: skip
    assert names(chain_of(POINTS, prefs, "normal", None, ENDPOINTS)) == []  # the in-app inbox only
    assert names(chain_of(POINTS, prefs, "urgent", None, ENDPOINTS)) == ["webhook:cp-hook", "email:cp-mail"]


def test_quiet_hours_and_digest_come_with_the_recipient() -> None:
    prefs = Preferences(quiet_hours=QuietHours(start="22:00", end="07:00"), digest=Digest.WEEKLY)
    recipient = recipient_of(POINTS, prefs, "normal", None, ENDPOINTS)
    assert recipient.digest is Digest.WEEKLY
    assert recipient.quiet is not None and (recipient.quiet.start.hour, recipient.quiet.end.hour) == (22, 7)
    assert recipient.target("email:cp-mail").endpoint == "office@unit.example"


def test_a_named_person_hears_it_on_any_of_their_channels_before_the_organisations_own() -> None:
    """The 联络员's mailbox comes before the organisation's webhook, although webhooks come first by default; with
    nobody named, or someone else named, the 联络员's mailbox stays out."""
    assert names(chain_of(POINTS, Preferences(), "urgent", "联络员王芳", ENDPOINTS)) == [
        "email:cp-mail-wang", "webhook:cp-hook", "email:cp-mail",
    ]  # fmt: skip
    assert names(chain_of(POINTS, Preferences(), "urgent", "秘书", ENDPOINTS)) == ["webhook:cp-hook", "email:cp-mail"]
