"""The email notifier against a real SMTP server (aiosmtpd: STARTTLS+AUTH, SMTPS, plain)."""

from __future__ import annotations

import email.utils

import pytest

from lemur.notifiers import make_test_notice
from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.values import PluginContext, Recipient
from tests.notifiers.conftest import SENDER, closed_port, digest_notice, email_notifier
from tests.peers.smtp import SMTPPeer

OPS = Recipient("ops@example.test")


def test_delivers_plain_and_html_with_the_notice_message_id(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    notice = digest_notice()
    email_notifier(smtp_server, notifier_context).send(notice, [OPS])

    [mail] = smtp_server.messages
    assert mail.listener == "starttls"
    assert (mail.mail_from, mail.rcpt_tos) == (SENDER, ("ops@example.test",))
    msg = mail.message
    assert msg["Subject"] == notice.subject
    assert msg["Message-ID"] == notice.message_id
    assert msg["X-Lemur-Message-Id"] == notice.message_id
    assert msg["To"] == "ops@example.test"
    assert email.utils.parseaddr(msg["From"]) == ("Lemur", SENDER)
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg.get_content_type() == "multipart/alternative"
    assert "www.example.com: expires 2026-12-14 (13 days left)" in (mail.part("text/plain") or "")
    assert "<li>api.example.com" in (mail.part("text/html") or "")


def test_a_resend_carries_the_same_message_id(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    notifier = email_notifier(smtp_server, notifier_context)
    notice = digest_notice(7)
    notifier.send(notice, [OPS])
    notifier.send(notice, [OPS])
    ids = [m.message["Message-ID"] for m in smtp_server.with_message_id(notice.message_id)]
    assert ids == [notice.message_id, notice.message_id]


def test_several_recipients_get_one_message(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    recipients = [Recipient("a@example.test"), Recipient("b@example.test")]
    email_notifier(smtp_server, notifier_context).send(digest_notice(), recipients)
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("a@example.test", "b@example.test")
    assert mail.message["To"] == "a@example.test, b@example.test"


def test_plain_text_only(smtp_server: SMTPPeer, notifier_context: PluginContext) -> None:
    notice = make_test_notice(notifier_context.clock.now())
    notice = type(notice)(
        event="test", subject=notice.subject, body=notice.body, message_id=notice.message_id
    )
    email_notifier(smtp_server, notifier_context).send(notice, [OPS])
    [mail] = smtp_server.messages
    assert mail.message.get_content_type() == "text/plain"
    assert "this channel works" in mail.message.get_content()


def test_implicit_tls(smtp_server: SMTPPeer, notifier_context: PluginContext) -> None:
    email_notifier(smtp_server, notifier_context, port=smtp_server.tls_port, security="tls").send(
        digest_notice(), [OPS]
    )
    assert [m.listener for m in smtp_server.messages] == ["tls"]


def test_plain_relay_without_auth(smtp_server: SMTPPeer, notifier_context: PluginContext) -> None:
    notifier = email_notifier(
        smtp_server,
        notifier_context,
        port=smtp_server.plain_port,
        security="none",
        username=None,
        password=None,
        ca_bundle=None,
    )
    notifier.send(digest_notice(), [OPS])
    assert [m.listener for m in smtp_server.messages] == ["plain"]


def test_the_test_message(smtp_server: SMTPPeer, notifier_context: PluginContext) -> None:
    notice = make_test_notice(notifier_context.clock.now())
    email_notifier(smtp_server, notifier_context).send(notice, [OPS])
    [mail] = smtp_server.messages
    assert mail.message["Subject"] == "Lemur test message"
    assert mail.message["Message-ID"] == notice.message_id


def test_wrong_password_is_rejected_without_the_password(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    wrong = "Wr0ng-but-secret-pw"
    with pytest.raises(PluginRejected) as caught:
        email_notifier(smtp_server, notifier_context, password=wrong).send(digest_notice(), [OPS])
    assert caught.value.code == "smtp_auth_failed"
    assert "535" in caught.value.message
    assert wrong not in str(caught.value)
    assert smtp_server.messages == []


def test_the_server_requires_starttls_and_auth(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    """Without STARTTLS and login the submission port refuses the message."""
    notifier = email_notifier(
        smtp_server, notifier_context, security="none", username=None, password=None, ca_bundle=None
    )
    with pytest.raises(PluginRejected) as caught:
        notifier.send(digest_notice(), [OPS])
    assert "530" in caught.value.message
    assert smtp_server.messages == []


def test_server_certificate_not_trusted_without_the_ca_bundle(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        email_notifier(smtp_server, notifier_context, ca_bundle=None).send(digest_notice(), [OPS])
    assert caught.value.code == "smtp_tls_untrusted"
    assert smtp_server.messages == []


def test_starttls_refused_when_the_server_does_not_offer_it(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    notifier = email_notifier(
        smtp_server, notifier_context, port=smtp_server.plain_port, username=None, password=None
    )
    with pytest.raises(PluginConfigurationError) as caught:
        notifier.send(digest_notice(), [OPS])
    assert caught.value.code == "smtp_not_supported"
    assert smtp_server.messages == []


def test_server_down_is_transient(smtp_server: SMTPPeer, notifier_context: PluginContext) -> None:
    notifier = email_notifier(smtp_server, notifier_context, port=closed_port())
    with pytest.raises(PluginTransientError) as caught:
        notifier.send(digest_notice(), [OPS])
    assert caught.value.code == "peer_unreachable"
    assert smtp_server.password not in str(caught.value)


def test_metadata_address_is_refused(
    smtp_server: SMTPPeer, notifier_context: PluginContext
) -> None:
    notifier = email_notifier(smtp_server, notifier_context, host="169.254.169.254", port=25)
    with pytest.raises(PluginRejected) as caught:
        notifier.send(digest_notice(), [OPS])
    assert caught.value.code == "outbound_address_denied"
    assert "169.254.0.0/16" in caught.value.message


def test_no_recipients_is_rejected(smtp_server: SMTPPeer, notifier_context: PluginContext) -> None:
    with pytest.raises(PluginRejected) as caught:
        email_notifier(smtp_server, notifier_context).send(digest_notice(), [])
    assert caught.value.code == "no_recipients"
