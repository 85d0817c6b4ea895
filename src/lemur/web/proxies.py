"""The client's address behind reverse proxies, as pure ASGI middleware.

``X-Forwarded-For`` is believed only when the connection comes from a configured trusted
proxy (``LEMUR_TRUSTED_PROXIES``); anyone else could write any address into it. Each proxy
appends the address it received the request from, so the list is read from the right and
the first address that is not itself a trusted proxy is the client: what a client writes
at the left cannot push out what the proxies appended.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("["):  # [2001:db8::1]:443
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:  # 192.0.2.1:443
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_behind_proxies(
    peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the right-most
    address in ``forwarded_for`` that is not one. An entry that is not an address ends the
    walk at the proxy that passed it on."""

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in trusted)

    current = _address(peer)
    if current is None or not is_trusted(current):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not is_trusted(address):
            break
    return str(current)


class ForwardedFor:
    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if self.trusted and client and scope["type"] in ("http", "websocket"):
            forwarded = [
                v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"
            ]
            address = client_behind_proxies(client[0], forwarded, self.trusted)
            if address != client[0]:
                # In place: the server's access log reads the same scope.
                scope["client"] = (address, 0)
        await self.app(scope, receive, send)
