"""The guarded outbound client: every connection Lemur makes on behalf of a plugin's options
(a webhook URL, a Slack URL, an SMTP host, an SES endpoint) goes through one address policy.

Why: whoever may configure a notification channel must not be able to make Lemur probe its
own cloud metadata service (169.254.169.254) or other addresses the operator has ruled out.

How an address is decided (first match wins):

1. in ``LEMUR_OUTBOUND_DENIED_NETWORKS`` -> denied;
2. in a built-in denied range (:data:`BUILTIN_DENIED`: link-local 169.254.0.0/16 and
   fe80::/10 where metadata services live, 0.0.0.0/8, the unspecified addresses, multicast,
   reserved 240.0.0.0/4, the AWS IPv6 and Alibaba metadata addresses) -> denied, unless an
   entry of ``LEMUR_OUTBOUND_ALLOWED_NETWORKS`` *inside* that range contains it (allowing
   ``0.0.0.0/0`` does not open 169.254.169.254; allowing ``169.254.169.254/32`` does);
3. ``LEMUR_OUTBOUND_ALLOWED_NETWORKS`` set and the address not in it -> denied;
4. otherwise allowed. Loopback and private ranges are allowed by default, because SMTP
   relays and webhook receivers often live there; deny them in the setting if they should
   not be reachable.

An IPv4-mapped IPv6 address (``::ffff:169.254.169.254``) is decided as its IPv4 address.

The host name is resolved once; *every* address it resolves to is checked (one denied
address refuses the host), and the connection goes to a checked address, so a name that
resolves differently the second time (DNS rebinding) cannot slip through. For HTTPS the
original name is still used for SNI and certificate verification, and the Host header is
the original one.

The HTTP client (:func:`guarded_client`) also has connect/read timeouts, a response size
limit (the body is read as a stream and reading stops past the limit), follows no
redirects, and ignores proxy environment variables (a proxy would resolve the name itself).

Errors name the host only, never the URL: a Slack webhook URL carries its secret in the
path, and other URLs may carry tokens in the query.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from lemur.clock import Clock
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import PluginContext

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

BUILTIN_DENIED: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "'this network' and the unspecified address"),
        ("169.254.0.0/16", "link-local, where cloud metadata services live"),
        ("100.100.100.200/32", "a cloud metadata service"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved and broadcast"),
        ("::/128", "the unspecified address"),
        ("fe80::/10", "link-local"),
        ("fd00:ec2::254/128", "a cloud metadata service"),
        ("ff00::/8", "multicast"),
    )
)

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576


class OutboundDenied(PluginRejected):
    """A connection the address policy refuses (names the host and the rule)."""

    default_code = "outbound_address_denied"


class ResponseTooLarge(PluginRejected):
    default_code = "outbound_response_too_large"


class _OutboundSettings(Protocol):
    """The settings this module reads (lemur.config.Settings has them)."""

    @property
    def outbound_allowed_networks(self) -> str: ...
    @property
    def outbound_denied_networks(self) -> str: ...
    @property
    def outbound_timeout_seconds(self) -> float: ...
    @property
    def outbound_max_response_bytes(self) -> int: ...


def _networks(value: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(i.strip(), strict=False) for i in value.split(",") if i.strip()
    )


def _normalise(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _inside(inner: Network, outer: Network) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses Lemur may connect to for plugins, and the HTTP client's limits."""

    allowed: tuple[Network, ...] = ()
    denied: tuple[Network, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @classmethod
    def from_settings(cls, settings: _OutboundSettings) -> OutboundPolicy:
        return cls(
            allowed=_networks(settings.outbound_allowed_networks),
            denied=_networks(settings.outbound_denied_networks),
            timeout=settings.outbound_timeout_seconds,
            max_response_bytes=settings.outbound_max_response_bytes,
        )

    def refusal(self, address: str) -> str | None:
        """Why ``address`` (an IP literal) is refused, or None when it is allowed."""
        ip = _normalise(ipaddress.ip_address(address))
        for net in self.denied:
            if ip in net:
                return f"it is in {net}, denied by LEMUR_OUTBOUND_DENIED_NETWORKS"
        explicit = [net for net in self.allowed if ip in net]
        for net, why in BUILTIN_DENIED:
            if ip in net and not any(_inside(a, net) for a in explicit):
                return (
                    f"it is in {net} ({why}), denied by default; allow it explicitly in "
                    f"LEMUR_OUTBOUND_ALLOWED_NETWORKS with {net} or a narrower range"
                )
        if self.allowed and not explicit:
            return "it is not in LEMUR_OUTBOUND_ALLOWED_NETWORKS"
        return None

    def check_host(self, host: str, port: int) -> tuple[str, ...]:
        """Resolve ``host`` once and return its addresses, all of them allowed.

        Raises OutboundDenied naming the host, the address and the rule; socket.gaierror
        (an OSError) when the name does not resolve."""
        host = host.strip("[]")
        try:
            literal: str | None = str(ipaddress.ip_address(host))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                shown = host if literal is not None else f"{host} ({address})"
                raise OutboundDenied(f"refusing to connect to {shown}: {why}", field="options")
        return tuple(addresses)

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to a checked address of ``host`` (see :meth:`check_host`)."""
        last: OSError | None = None
        for address in self.check_host(host, port):
            try:
                return socket.create_connection((address, port), timeout=timeout)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, limit: int, host: str) -> None:
        self._stream = stream
        self._limit = limit
        self._host = host

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(
                    f"the response from {self._host} is larger than {self._limit} bytes"
                )
            yield chunk

    def close(self) -> None:
        self._stream.close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that checks the address policy on every request (redirects
    included, were they followed) and caps the response body."""

    def __init__(self, policy: OutboundPolicy, *, verify: bool | ssl.SSLContext = True) -> None:
        self._policy = policy
        if verify is True:
            verify = default_ssl_context()
        self._inner = httpx.HTTPTransport(verify=verify, trust_env=False, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        if url.scheme not in ("http", "https"):
            raise OutboundDenied(f"refusing the {url.scheme} scheme for {host}", field="options")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = self._policy.check_host(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}", request=request) from exc
        request.url = url.copy_with(host=addresses[0])
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        response = self._inner.handle_request(request)
        limit = self._policy.max_response_bytes
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            response.close()
            raise ResponseTooLarge(f"the response from {host} is larger than {limit} bytes")
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, limit, host),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, made once per process: loading the CA bundle
    costs about 40 ms, which every plugin context (a deployment, a notification) paid."""
    return httpx.create_ssl_context(trust_env=False)


def guarded_client(policy: OutboundPolicy, *, verify: bool | ssl.SSLContext = True) -> httpx.Client:
    """The one HTTP client for plugins: address policy, timeouts, size limit, no redirects,
    no proxies from the environment. ``verify`` is True (system CAs), False, or an SSLContext (a private CA)."""
    return httpx.Client(
        transport=GuardedTransport(policy, verify=verify),
        timeout=httpx.Timeout(policy.timeout, connect=min(policy.timeout, 5.0)),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "Lemur"},
    )


@contextlib.contextmanager
def plugin_context(
    policy: OutboundPolicy, clock: Clock, logger_name: str
) -> Iterator[PluginContext]:
    """A PluginContext whose ``http`` is a guarded client (closed on exit) and whose
    ``outbound`` is ``policy``, for notifiers and any plugin that talks to the network::

        policy = OutboundPolicy.from_settings(container.settings)
        with plugin_context(policy, clock, f"lemur.notifiers.{slug}") as context:
            registry.instantiate("notifier", slug, options, context).send(notice, recipients)
    """
    with guarded_client(policy) as client:
        yield PluginContext(
            clock=clock, logger=logging.getLogger(logger_name), http=client, outbound=policy
        )
