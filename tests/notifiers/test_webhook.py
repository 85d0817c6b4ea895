"""The webhook notifier against a local receiver that verifies the HMAC signature, and
verify_signature itself (tampering, replays, rotation)."""

from __future__ import annotations

import json
import time

import pytest

from lemur.notifiers.webhook import (
    InvalidSignature,
    compute_signature,
    signature_header,
    verify_signature,
)
from lemur.plugins.errors import PluginRejected, PluginTransientError
from lemur.plugins.values import PluginContext, Recipient
from tests.notifiers.conftest import WEBHOOK_SECRET, closed_port, digest_notice, webhook_notifier
from tests.peers.receivers import WebhookReceiver

OPS = [Recipient("ops@example.test")]


def test_signed_payload_verified_by_the_receiver(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    notice = digest_notice()
    before = int(time.time())
    webhook_notifier(webhook_receiver.url, notifier_context).send(notice, OPS)

    [request] = webhook_receiver.requests
    assert request.verified is True
    assert request.answered == 200
    assert request.headers["x-lemur-message-id"] == notice.message_id
    assert request.headers["content-type"] == "application/json"
    payload = request.json()
    assert payload == {
        "version": 1,
        "event": "expiring",
        "subject": notice.subject,
        "text": notice.body,
        "html": notice.html,
        "certificate_ids": [12, 13],
        "message_id": notice.message_id,
        "link": notice.link,
        "sent_at": payload["sent_at"],
        "recipients": ["ops@example.test"],
    }
    stamp = int(request.headers["x-lemur-signature"].split(",")[0].removeprefix("t="))
    assert before <= stamp <= int(time.time())
    assert payload["sent_at"].endswith("Z")


def test_wrong_secret_is_refused_by_the_receiver(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    notifier = webhook_notifier(
        webhook_receiver.url, notifier_context, secret="another-secret-0123456789"
    )
    with pytest.raises(PluginRejected) as caught:
        notifier.send(digest_notice(), OPS)
    assert "401" in caught.value.message
    assert "another-secret" not in str(caught.value)
    [request] = webhook_receiver.requests
    assert request.verified is False


def test_receiver_5xx_is_transient(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    webhook_receiver.down()
    with pytest.raises(PluginTransientError):
        webhook_notifier(webhook_receiver.url, notifier_context).send(digest_notice(), OPS)


def test_receiver_down_is_transient(notifier_context: PluginContext) -> None:
    with pytest.raises(PluginTransientError) as caught:
        webhook_notifier(f"http://127.0.0.1:{closed_port()}/h", notifier_context).send(
            digest_notice(), OPS
        )
    assert caught.value.code == "peer_unreachable"
    assert WEBHOOK_SECRET not in str(caught.value)


def test_redirect_is_not_followed(
    webhook_receiver: WebhookReceiver, notifier_context: PluginContext
) -> None:
    webhook_receiver.respond(302, "")
    with pytest.raises(PluginRejected) as caught:
        webhook_notifier(webhook_receiver.url, notifier_context).send(digest_notice(), OPS)
    assert caught.value.code == "peer_redirected"
    assert len(webhook_receiver.requests) == 1


BODY = json.dumps({"event": "expiring", "certificate_ids": [1]}).encode()
NOW = 1_764_590_400


def test_verify_accepts_a_fresh_signature() -> None:
    header = signature_header(WEBHOOK_SECRET, NOW, BODY)
    assert verify_signature(WEBHOOK_SECRET, header, BODY, now=NOW + 299) == NOW


def test_verify_refuses_a_tampered_body() -> None:
    header = signature_header(WEBHOOK_SECRET, NOW, BODY)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify_signature(WEBHOOK_SECRET, header, BODY.replace(b"[1]", b"[2]"), now=NOW)


def test_verify_refuses_a_replayed_old_timestamp() -> None:
    header = signature_header(WEBHOOK_SECRET, NOW, BODY)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(WEBHOOK_SECRET, header, BODY, now=NOW + 301)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(WEBHOOK_SECRET, header, BODY, now=NOW - 301)


def test_verify_refuses_a_timestamp_changed_by_the_attacker() -> None:
    sig = compute_signature(WEBHOOK_SECRET, NOW, BODY)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify_signature(WEBHOOK_SECRET, f"t={NOW + 600},v1={sig}", BODY, now=NOW + 600)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=abc,v1=00", f"t={NOW}"])
def test_verify_refuses_malformed_headers(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(WEBHOOK_SECRET, header, BODY, now=NOW)


def test_verify_accepts_either_secret_during_rotation() -> None:
    old = compute_signature("old-secret-0123456789", NOW, BODY)
    new = compute_signature(WEBHOOK_SECRET, NOW, BODY)
    assert verify_signature(WEBHOOK_SECRET, f"t={NOW},v1={old},v1={new}", BODY, now=NOW) == NOW
