"""The guarded outbound client: address policy (built-in and configured), resolution once
with connection to the checked address, response size cap, timeouts, no redirects."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lemur.clock import SystemClock
from lemur.config import Settings
from lemur.outbound import (
    OutboundDenied,
    OutboundPolicy,
    ResponseTooLarge,
    guarded_client,
    plugin_context,
)
from lemur.plugins.errors import PluginRejected, PluginTransientError
from lemur.plugins.values import PluginContext, Recipient
from tests.notifiers.conftest import digest_notice, webhook_notifier
from tests.peers.receivers import Receiver, SlackReceiver, WebhookReceiver
from tests.peers.tls import write_tls_material


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("169.254.169.254", "169.254.0.0/16"),
        ("::ffff:169.254.169.254", "169.254.0.0/16"),
        ("0.0.0.0", "0.0.0.0/8"),
        ("224.0.0.1", "224.0.0.0/4"),
        ("255.255.255.255", "240.0.0.0/4"),
        ("::", "::/128"),
        ("fe80::1", "fe80::/10"),
        ("fd00:ec2::254", "fd00:ec2::254/128"),
        ("ff02::1", "ff00::/8"),
    ],
)
def test_builtin_denied_ranges(address: str, rule: str) -> None:
    why = OutboundPolicy().refusal(address)
    assert why is not None
    assert rule in why


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.1.10", "8.8.8.8"])
def test_loopback_private_and_public_allowed_by_default(address: str) -> None:
    assert OutboundPolicy().refusal(address) is None


def test_metadata_opens_only_when_allowed_explicitly() -> None:
    everything = OutboundPolicy(allowed=(_net("0.0.0.0/0"),))
    assert everything.refusal("169.254.169.254") is not None
    assert everything.refusal("192.0.2.1") is None
    narrow = OutboundPolicy(allowed=(_net("169.254.169.254/32"),))
    assert narrow.refusal("169.254.169.254") is None
    assert narrow.refusal("169.254.169.253") is not None


def test_allow_list_and_deny_list_from_settings() -> None:
    settings = Settings(
        outbound_allowed_networks="10.0.0.0/8, 127.0.0.0/8",
        outbound_denied_networks="10.9.0.0/16",
        outbound_timeout_seconds=3,
        outbound_max_response_bytes=2048,
    )
    policy = OutboundPolicy.from_settings(settings)
    assert policy.refusal("10.1.1.1") is None
    assert "LEMUR_OUTBOUND_DENIED_NETWORKS" in (policy.refusal("10.9.1.1") or "")
    assert "not in LEMUR_OUTBOUND_ALLOWED_NETWORKS" in (policy.refusal("192.0.2.1") or "")
    assert (policy.timeout, policy.max_response_bytes) == (3, 2048)


def test_bad_network_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(outbound_denied_networks="10.0.0.0/33")


def test_client_refuses_the_metadata_service() -> None:
    with guarded_client(OutboundPolicy()) as client, pytest.raises(OutboundDenied) as caught:
        client.get("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    assert "169.254.169.254" in caught.value.message
    assert "security-credentials" not in caught.value.message


def test_host_name_resolving_to_a_denied_range_is_refused(
    webhook_receiver: WebhookReceiver,
) -> None:
    """``localhost`` resolves to 127.0.0.1: with loopback denied in the settings the name is
    refused before any connection, and the receiver sees nothing."""
    policy = OutboundPolicy(denied=(_net("127.0.0.0/8"), _net("::1/128")))
    url = f"http://localhost:{webhook_receiver.port}/hooks/lemur?token=q-secret"
    with guarded_client(policy) as client, pytest.raises(OutboundDenied) as caught:
        client.post(url, content=b"{}")
    assert "localhost" in caught.value.message
    assert "LEMUR_OUTBOUND_DENIED_NETWORKS" in caught.value.message
    assert "q-secret" not in caught.value.message
    assert webhook_receiver.requests == []


def test_denied_range_through_a_notifier(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    policy = OutboundPolicy(denied=(_net("127.0.0.0/8"), _net("::1/128")))
    with guarded_client(policy) as client:
        guarded = PluginContext(
            clock=notifier_context.clock,
            logger=notifier_context.logger,
            http=client,
            outbound=policy,
        )
        notifier = webhook_notifier(webhook_receiver.url, guarded)
        with pytest.raises(PluginRejected) as caught:
            notifier.send(digest_notice(), [Recipient("ops@example.test")])
    assert caught.value.code == "outbound_address_denied"
    assert webhook_receiver.requests == []


def test_resolves_once_and_connects_to_the_checked_address(
    slack_receiver: SlackReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name is resolved once per request: the connection goes to the address that was
    checked, with the original Host header (a second, different answer is never used)."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def counting(host: str, *args: object, **kwargs: object) -> object:
        calls.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    url = f"http://localhost:{slack_receiver.port}{slack_receiver.path}"
    with guarded_client(OutboundPolicy()) as client:
        response = client.post(url, json={"text": "hi"})
    assert response.text == "ok"
    assert calls.count("localhost") == 1
    [request] = slack_receiver.requests
    assert request.headers["host"] == f"localhost:{slack_receiver.port}"


def test_response_size_is_capped(slack_receiver: SlackReceiver) -> None:
    slack_receiver.respond(200, b"x" * 5000)
    policy = OutboundPolicy(max_response_bytes=1024)
    with guarded_client(policy) as client, pytest.raises(ResponseTooLarge) as caught:
        client.post(slack_receiver.url, json={"text": "hi"})
    assert "1024 bytes" in caught.value.message


def test_response_size_is_capped_while_streaming(slack_receiver: SlackReceiver) -> None:
    """Without Content-Length (chunked) the body is counted as it arrives."""
    slack_receiver.respond(200, b"y" * 50_000, chunked=True)
    policy = OutboundPolicy(max_response_bytes=1024)
    with (
        guarded_client(policy) as client,
        client.stream("POST", slack_receiver.url, json={"text": "hi"}) as response,
    ):
        assert response.status_code == 200
        assert "content-length" not in response.headers
        with pytest.raises(ResponseTooLarge):
            response.read()


def test_slow_receiver_times_out(slack_receiver: SlackReceiver) -> None:
    slack_receiver.slow(3)
    with guarded_client(OutboundPolicy(timeout=0.5)) as client, pytest.raises(httpx.ReadTimeout):
        client.post(slack_receiver.url, json={"text": "hi"})


def test_a_notifier_maps_an_oversized_answer_to_rejected(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    webhook_receiver.respond(200, b"z" * 2_000_000)
    with pytest.raises(PluginRejected) as caught:
        webhook_notifier(webhook_receiver.url, notifier_context).send(
            digest_notice(), [Recipient("ops@example.test")]
        )
    assert caught.value.code == "outbound_response_too_large"


def test_redirects_are_not_followed(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(302, "")
    with guarded_client(OutboundPolicy()) as client:
        response = client.get(webhook_receiver.url)
    assert response.status_code == 302
    assert len(webhook_receiver.requests) == 1


def test_only_http_schemes() -> None:
    with (
        guarded_client(OutboundPolicy()) as client,
        pytest.raises((OutboundDenied, httpx.UnsupportedProtocol)),
    ):
        client.get("ftp://127.0.0.1/file")


def test_unresolvable_name_is_a_connect_error() -> None:
    with guarded_client(OutboundPolicy()) as client, pytest.raises(httpx.ConnectError):
        client.get("http://no-such-host.invalid/")


def test_a_notifier_maps_a_slow_receiver_to_transient(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    webhook_receiver.slow(3)
    with pytest.raises(PluginTransientError) as caught:
        webhook_notifier(webhook_receiver.url, notifier_context, timeout=0.5).send(
            digest_notice(), [Recipient("ops@example.test")]
        )
    assert caught.value.code == "peer_timeout"


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    cafile, certfile, keyfile = write_tls_material(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certfile, keyfile)
    receiver = Receiver(tls=tls)
    yield receiver, cafile
    receiver.stop()


def test_https_verifies_the_original_name_on_the_checked_address(
    https_receiver: tuple[Receiver, Path],
) -> None:
    """The connection goes to the checked IP, while SNI and certificate verification use the
    name from the URL (the certificate is for localhost and 127.0.0.1)."""
    receiver, cafile = https_receiver
    with guarded_client(
        OutboundPolicy(), verify=ssl.create_default_context(cafile=cafile)
    ) as client:
        response = client.post(f"https://localhost:{receiver.port}/", content=b"{}")
    assert response.text == "ok"
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


def test_https_refuses_an_untrusted_certificate(https_receiver: tuple[Receiver, Path]) -> None:
    receiver, _ = https_receiver
    with guarded_client(OutboundPolicy()) as client, pytest.raises(httpx.ConnectError):
        client.post(f"https://localhost:{receiver.port}/", content=b"{}")
    assert receiver.requests == []


def test_plugin_context_hands_plugins_the_guarded_client() -> None:
    policy = OutboundPolicy(denied=(_net("192.0.2.0/24"),))
    with plugin_context(policy, SystemClock(), "tests.outbound") as ctx:
        assert ctx.outbound is policy
        assert ctx.http is not None
        with pytest.raises(OutboundDenied) as caught:
            ctx.http.get("http://192.0.2.10/")
        assert "192.0.2.0/24" in caught.value.message
        with pytest.raises(OutboundDenied):
            ctx.outbound.connect("169.254.169.254", 80, 1)
