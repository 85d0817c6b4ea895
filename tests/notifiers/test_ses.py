"""The ses notifier against a real moto server (HTTP, no in-process mocks)."""

from __future__ import annotations

import pytest

from lemur.plugins.errors import PluginRejected, PluginTransientError
from lemur.plugins.values import PluginContext, Recipient
from tests.notifiers.conftest import SENDER, closed_port, digest_notice, ses_notifier
from tests.peers.moto import SECRET_ACCESS_KEY, MotoServer

OPS = Recipient("ops@example.test")


def test_verified_sender_delivers_the_raw_message(
    moto_server: MotoServer, notifier_context: PluginContext
) -> None:
    moto_server.verify_ses_identity(SENDER)
    notice = digest_notice()
    ses_notifier(moto_server, notifier_context).send(notice, [OPS, Recipient("sec@example.test")])

    [sent] = moto_server.ses_messages()
    assert sent.source == SENDER
    # moto lists the envelope destinations and the To header addresses
    assert set(sent.destinations) == {"ops@example.test", "sec@example.test"}
    assert sent.message["Subject"] == notice.subject
    assert sent.message["Message-ID"] == notice.message_id
    assert sent.message["X-Lemur-Message-Id"] == notice.message_id
    assert "api.example.com: expires 2026-12-15" in (sent.part("text/plain") or "")
    assert "<b>Web</b>" in (sent.part("text/html") or "")


def test_unverified_sender_is_rejected(
    moto_server: MotoServer, notifier_context: PluginContext
) -> None:
    with pytest.raises(PluginRejected) as caught:
        ses_notifier(moto_server, notifier_context).send(digest_notice(), [OPS])
    assert caught.value.code == "ses_rejected"
    assert "MessageRejected" in caught.value.message
    assert SECRET_ACCESS_KEY not in str(caught.value)
    assert moto_server.ses_messages() == []


def test_endpoint_down_is_transient(
    moto_server: MotoServer, notifier_context: PluginContext
) -> None:
    notifier = ses_notifier(
        moto_server, notifier_context, endpoint_url=f"http://127.0.0.1:{closed_port()}"
    )
    with pytest.raises(PluginTransientError) as caught:
        notifier.send(digest_notice(), [OPS])
    assert caught.value.code == "peer_unreachable"
    assert SECRET_ACCESS_KEY not in str(caught.value)


def test_endpoint_on_a_metadata_address_is_refused(
    moto_server: MotoServer, notifier_context: PluginContext
) -> None:
    notifier = ses_notifier(moto_server, notifier_context, endpoint_url="http://169.254.169.254/")
    with pytest.raises(PluginRejected) as caught:
        notifier.send(digest_notice(), [OPS])
    assert caught.value.code == "outbound_address_denied"


def test_invalid_recipient_is_rejected_before_calling_ses(
    moto_server: MotoServer, notifier_context: PluginContext
) -> None:
    moto_server.verify_ses_identity(SENDER)
    with pytest.raises(PluginRejected) as caught:
        ses_notifier(moto_server, notifier_context).send(
            digest_notice(), [Recipient("not an address")]
        )
    assert caught.value.code == "invalid_recipient"
    assert moto_server.ses_messages() == []
