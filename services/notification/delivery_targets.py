"""Whom a notification goes to, and how: the recipient's fallback chain of contact points for an urgency, its quiet
hours and its digest choice, from its contact points and preferences (the `subscription` aggregate).

The chain follows the preference's channels for the urgency (in order), else the default order; each channel
contributes the recipient's enabled contact points of that kind. When the notification names a person (a routing
rule's `person`, e.g. a unit's 联络员), that person's points come first, on every channel, then the organisation's
own: the person hears it on any channel before the organisation's office does. The in-app inbox is not in the
chain: it holds every notification already. A target is named `channel:contact_point_id`, so two addresses of one
kind are two links of the chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING, Any

from services.notification.quiet_hours import QuietHours
from shared.catalogue.notification import Channel, ContactKind, Digest, Preferences

if TYPE_CHECKING:
    from shared.runtime import Runtime

# What goes first when the recipient said nothing: its own system, then the group robots, then e-mail, then SMS.
DEFAULT_ORDER = (Channel.WEBHOOK, Channel.DINGTALK, Channel.WECOM, Channel.EMAIL, Channel.SMS)
KIND_CHANNEL = {
    ContactKind.WEBHOOK: Channel.WEBHOOK, ContactKind.DINGTALK: Channel.DINGTALK, ContactKind.WECOM: Channel.WECOM,
    ContactKind.EMAIL: Channel.EMAIL, ContactKind.SMS: Channel.SMS,
}  # fmt: skip


@dataclass(frozen=True)
class ContactPoint:
    """A contact point as the engine needs it; `secret` opened (never logged, never recorded)."""

    contact_point_id: str
    kind: ContactKind
    address: str
    person: str | None = None
    secret: str | None = None
    enabled: bool = True
    label: str = ""


@dataclass(frozen=True)
class Target:
    channel: Channel
    contact_point_id: str
    endpoint: Any  # the channel's own endpoint model (services/notification/channels)

    @property
    def name(self) -> str:
        return f"{self.channel.value}:{self.contact_point_id}"


@dataclass(frozen=True)
class Recipient:
    chain: tuple[Target, ...]
    quiet: QuietHours | None
    digest: Digest

    def target(self, name: str) -> Target:
        return next(t for t in self.chain if t.name == name)


# channel -> how a contact point becomes that channel's endpoint (None: not usable, e.g. a robot without its secret)
EndpointFactory = Callable[[ContactPoint], Any]
Resolve = Callable[["Runtime", str, str | None, str], Awaitable[Recipient]]


def quiet_hours_of(preferences: Preferences) -> QuietHours | None:
    quiet = preferences.quiet_hours
    if quiet is None:
        return None
    return QuietHours(time.fromisoformat(quiet.start), time.fromisoformat(quiet.end))


def chain_of(
    points: Iterable[ContactPoint], preferences: Preferences, urgency: str, person: str | None,
    endpoints: Mapping[Channel, EndpointFactory],
) -> tuple[Target, ...]:  # fmt: skip
    """The fallback chain, pure: which contact points, in which order."""
    wanted: Sequence[Channel] = next(
        (channels for u, channels in preferences.channels.items() if u.value == urgency), DEFAULT_ORDER
    )
    usable = sorted((p for p in points if p.enabled), key=lambda p: p.contact_point_id)
    chain: list[Target] = []
    # The named person's points (none when the notification names nobody), then the organisation's own; another
    # person's points never (a secretary does not get the 联络员's messages).
    for whose in dict.fromkeys([person, None]):
        for channel in dict.fromkeys(wanted):
            factory = endpoints.get(channel)
            if factory is None:
                continue  # the inbox, or a channel this deployment does not run
            for point in usable:
                if KIND_CHANNEL[point.kind] is not channel or point.person != whose:
                    continue
                endpoint = factory(point)
                if endpoint is not None:
                    chain.append(Target(channel, point.contact_point_id, endpoint))
    return tuple(chain)


def recipient_of(
    points: Iterable[ContactPoint], preferences: Preferences, urgency: str, person: str | None,
    endpoints: Mapping[Channel, EndpointFactory],
) -> Recipient:  # fmt: skip
    return Recipient(
        chain_of(points, preferences, urgency, person, endpoints), quiet_hours_of(preferences), preferences.digest
    )
