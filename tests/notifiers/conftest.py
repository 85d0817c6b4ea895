"""Notifier tests: each plugin against its real peer (tests/peers/fixtures.py)."""

from __future__ import annotations

from typing import Any

from lemur.notifiers.email import EmailNotifier, EmailOptions
from lemur.notifiers.ses import SESNotifier, SESOptions
from lemur.notifiers.slack import SlackNotifier, SlackOptions
from lemur.notifiers.webhook import WebhookNotifier, WebhookOptions
from lemur.plugins.values import Notice, PluginContext
from tests.peers.fixtures import *  # noqa: F403  (fixtures)
from tests.peers.fixtures import WEBHOOK_SECRET
from tests.peers.moto import ACCESS_KEY_ID, SECRET_ACCESS_KEY, MotoServer
from tests.peers.server import free_port
from tests.peers.smtp import SENDER, SMTPPeer
from tests.peers.smtp import email_options as smtp_options


def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


def email_options(smtp: SMTPPeer, **changes: Any) -> EmailOptions:
    return EmailOptions.model_validate(smtp_options(smtp, **{"from_name": "Lemur", **changes}))


def email_notifier(smtp: SMTPPeer, context: PluginContext, **changes: Any) -> EmailNotifier:
    return EmailNotifier(email_options(smtp, **changes), context)


def ses_notifier(moto: MotoServer, context: PluginContext, **changes: Any) -> SESNotifier:
    values: dict[str, Any] = {
        "region": "us-east-1",
        "source": SENDER,
        "endpoint_url": moto.endpoint_url,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "timeout": 5,
    }
    values.update(changes)
    return SESNotifier(SESOptions.model_validate(values), context)


def slack_notifier(url: str, context: PluginContext, **changes: Any) -> SlackNotifier:
    return SlackNotifier(
        SlackOptions.model_validate({"webhook_url": url, "timeout": 2, **changes}), context
    )


def webhook_notifier(url: str, context: PluginContext, **changes: Any) -> WebhookNotifier:
    values: dict[str, Any] = {"url": url, "secret": WEBHOOK_SECRET, "timeout": 2}
    values.update(changes)
    return WebhookNotifier(WebhookOptions.model_validate(values), context)


def digest_notice(n: int = 1) -> Notice:
    """A notice like the notification service's expiry digest."""
    return Notice(
        event="expiring",
        subject="2 certificates of team Web expire within 14 days",
        body="Certificates of team Web expiring soon:\n"
        "- www.example.com: expires 2026-12-14 (13 days left)\n"
        "- api.example.com: expires 2026-12-15 (14 days left)\n",
        html="<p>Certificates of team <b>Web</b> expiring soon:</p><ul>"
        "<li>www.example.com: expires 2026-12-14 (13 days left)</li>"
        "<li>api.example.com: expires 2026-12-15 (14 days left)</li></ul>",
        certificate_ids=(12, 13),
        message_id=f"<lemur.n.digest{n}.3f2a9c@lemur.example.test>",
        link="https://lemur.example.test/certificates?expiring=14",
    )
