"""Outside development, webhooks and robots reach public addresses and the networks the operator allows, nothing
else: a contact point pointing at 10.x, the metadata service or this machine is refused when written, and a name
resolving to such an address is refused before any byte is sent (against a real local receiver that counts)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.notification.channels.common import Message, Outcome, Urgency
from services.notification.channels.dingtalk import DingTalkChannel, DingTalkRobot
from services.notification.channels.dispatch import ChannelSettings
from services.notification.channels.http_peer import http_client
from services.notification.channels.network_guard import NetworkGuard, parse_networks
from services.notification.channels.rate_limit import RobotRateLimiter
from services.notification.channels.robot import RobotPoster
from services.notification.channels.webhook import WebhookChannel, WebhookEndpoint, new_webhook_secret
from services.notification.commands import ContactPointBody
from services.notification.domain_subscriptions import decide_configure_contact_point
from shared.clock import SimulatedClock
from shared.domain_errors import DomainError
from tests.notification.channels.conftest import Receiver

NOW = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
MESSAGE = Message(title="问题已交办", body="请于 5 个工作日内办理。", urgency=Urgency.NORMAL, topic="issue.assigned")
EXTRANET = "10.20.0.0/16"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client() as client:
        yield client


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.9", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
     "fe80::1", "fc00::5", "::ffff:10.0.0.1"],
)  # fmt: skip
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    assert NetworkGuard().address_refusal(ipaddress.ip_address(address)) is not None


def test_public_addresses_and_allowed_networks_pass() -> None:
    guard = NetworkGuard(parse_networks(f"{EXTRANET}, 2001:db8:1::/48"))
    for address in ("8.8.8.8", "240e::1", "10.20.3.4", "::ffff:10.20.3.4"):
        assert guard.address_refusal(ipaddress.ip_address(address)) is None, address
    assert guard.address_refusal(ipaddress.ip_address("10.21.0.1")) is not None
    assert guard.host_refusal("localhost") and guard.host_refusal("api.localhost.")
    assert guard.host_refusal("[::1]") and guard.host_refusal("hooks.unit.example") is None


def test_a_bad_allowed_network_names_itself() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/99'")):
        parse_networks("10.1.0.0/16,10.0.0.0/99")


async def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    name = socket.gethostname()  # this machine's own name resolves to one of its addresses
    [address] = {ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    assert not address.is_global, "the test machine's name is expected to resolve to a local address"
    refusal = await NetworkGuard().resolved_refusal(name, 443)
    assert refusal is not None and str(address) in refusal
    allowed = NetworkGuard((ipaddress.ip_network(address),))
    assert await allowed.resolved_refusal(name, 443) is None
    assert await NetworkGuard().resolved_refusal("no-such-host.invalid", 443) is None  # left to the transport


async def test_a_webhook_into_a_private_address_is_never_sent(receiver: Receiver, http: httpx.AsyncClient) -> None:
    target = WebhookEndpoint(url=receiver.url + "/hooks", secret=new_webhook_secret())
    attempt = await WebhookChannel(http, network_guard=NetworkGuard()).send(
        MESSAGE, target, idempotency_key="ntf-ssrf.webhook", now=NOW
    )
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.PERMANENT, "private_endpoint", None)
    assert "127.0.0.1" in attempt.response and "内网" in attempt.reason.text
    assert receiver.received == []
    # The same receiver inside the operator's allowed networks is called.
    allowed = NetworkGuard(parse_networks("127.0.0.0/8"))
    attempt = await WebhookChannel(http, network_guard=allowed).send(MESSAGE, target, idempotency_key="ntf-ok", now=NOW)
    assert attempt.outcome == Outcome.DELIVERED and len(receiver.received) == 1


async def test_a_robot_on_this_machine_is_never_posted_to(receiver: Receiver, http: httpx.AsyncClient) -> None:
    poster = RobotPoster(http, RobotRateLimiter(SimulatedClock(NOW)), network_guard=NetworkGuard())
    robot = DingTalkRobot(url=f"{receiver.url}/robot/send?access_token=abcdef0123456789", secret=None)
    attempt = await DingTalkChannel(poster).send(MESSAGE, robot, idempotency_key="ntf-ssrf.dingtalk", now=NOW)
    assert (attempt.outcome, attempt.reason.code) == (Outcome.PERMANENT, "private_endpoint")
    assert receiver.received == []


def test_the_guard_is_on_outside_development_only() -> None:
    production = ChannelSettings.from_env({"TIAODU_WEBHOOK_ALLOWED_NETWORKS": EXTRANET}, environment="production")
    assert production.network_guard == NetworkGuard(parse_networks(EXTRANET))
    assert ChannelSettings.from_env({}, environment="development").network_guard is None


def test_a_contact_point_written_as_a_private_address_is_refused_outside_development() -> None:
    guard = NetworkGuard(parse_networks(EXTRANET))

    def configure(address: str) -> None:
        body = ContactPointBody(kind="webhook", address=address, label="单位业务系统", secret=new_webhook_secret())
        decide_configure_contact_point(None, "cp-1", body, None, development=False, creating=True, guard=guard)

    for address in ("https://10.1.2.3/hooks", "https://169.254.169.254/latest", "https://localhost/x"):
        with pytest.raises(DomainError) as refused:
            configure(address)
        assert refused.value.field == "address" and "内网" in refused.value.reason, address
    configure("https://10.20.8.8/hooks")  # the operator's extranet range
    configure("https://erp.unit-a.example/hooks")
