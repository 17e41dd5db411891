"""Which networks the platform's webhooks and robots may reach, so that a contact point cannot turn the notification
service into a way into the intranet it runs on (server-side request forgery: an address of the cloud's metadata
service, of PostgreSQL, of another organisation's system on the 政务外网).

Outside development only public addresses are called, plus the networks the operator names in
TIAODU_WEBHOOK_ALLOWED_NETWORKS (CIDR list: units' systems that live on the government extranet). A URL names a host,
and the host's addresses are what is checked: at registration when the host is written as an address, and again
right before every send on what the name resolves to then (a name may point somewhere else tomorrow). A name that
does not resolve is left to the transport (a retryable error), not refused here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOWED_NETWORKS_ENV = "TIAODU_WEBHOOK_ALLOWED_NETWORKS"


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """`10.20.0.0/16, 172.16.5.0/24` -> networks; ValueError naming the bad entry."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{ALLOWED_NETWORKS_ENV}: {item!r} is not a network in CIDR form") from exc
    return tuple(networks)


@dataclass(frozen=True)
class NetworkGuard:
    """Public addresses always; others only inside `allowed`."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NetworkGuard:
        return cls(parse_networks(env.get(ALLOWED_NETWORKS_ENV, "")))

    def address_refusal(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        if any(address in network for network in self.allowed):
            return None
        if address.is_global:
            return None
        return f"address {address} is not public and not in {ALLOWED_NETWORKS_ENV}"

    def host_refusal(self, host: str) -> str | None:
        """For a host as written in a URL: an address literal is judged; a name only when it is the local machine's."""
        host = host.strip("[]").rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return f"host {host} is this machine"
        try:
            return self.address_refusal(ipaddress.ip_address(host))
        except ValueError:
            return None

    async def resolved_refusal(self, host: str, port: int) -> str | None:
        """What the host resolves to now, each address judged; None when every one may be called."""
        if refusal := self.host_refusal(host):
            return refusal
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except OSError:
            return None  # unresolvable: the send fails as unreachable and is retried
        for _family, _type, _proto, _name, sockaddr in infos:
            address = str(sockaddr[0]).split("%", 1)[0]  # fe80::1%eth0: the zone is not part of the address
            if refusal := self.address_refusal(ipaddress.ip_address(address)):
                return f"{host} resolves to {sockaddr[0]}: {refusal}"
        return None
