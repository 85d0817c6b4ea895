"""The slack notifier against a local Slack-compatible incoming webhook."""

from __future__ import annotations

import pytest

from lemur.notifiers.slack import slack_payload
from lemur.plugins.errors import PluginRejected, PluginTransientError
from lemur.plugins.values import Notice, PluginContext, Recipient
from tests.notifiers.conftest import closed_port, digest_notice, slack_notifier
from tests.peers.receivers import SlackReceiver

OPS = [Recipient("#certificates")]


def test_posts_a_readable_message(
    slack_receiver: SlackReceiver, notifier_context: PluginContext
) -> None:
    notice = digest_notice()
    slack_notifier(slack_receiver.url, notifier_context).send(notice, OPS)

    [payload] = slack_receiver.payloads()
    assert payload["text"].startswith(notice.subject)
    header, body, link = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": notice.subject}}
    assert "www.example.com: expires 2026-12-14 (13 days left)" in body["text"]["text"]
    assert link["text"]["text"] == f"<{notice.link}|Open in Lemur>"


def test_mrkdwn_control_characters_are_escaped() -> None:
    notice = Notice(
        event="expiring",
        subject="x",
        body="<!channel> & <https://evil.example|click>",
        message_id="<a@b>",
    )
    text = slack_payload(notice)["blocks"][1]["text"]["text"]
    assert text == "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"


def test_long_subjects_fit_slack_limits(
    slack_receiver: SlackReceiver, notifier_context: PluginContext
) -> None:
    notice = Notice(event="e", subject="S" * 400, body="B" * 5000, message_id="<a@b>")
    slack_notifier(slack_receiver.url, notifier_context).send(notice, OPS)
    [payload] = slack_receiver.payloads()
    assert len(payload["blocks"][0]["text"]["text"]) == 150
    assert len(payload["blocks"][1]["text"]["text"]) == 3000


def test_5xx_is_transient(slack_receiver: SlackReceiver, notifier_context: PluginContext) -> None:
    slack_receiver.down()
    with pytest.raises(PluginTransientError) as caught:
        slack_notifier(slack_receiver.url, notifier_context).send(digest_notice(), OPS)
    assert caught.value.code == "peer_unavailable"
    assert "503" in caught.value.message
    assert slack_receiver.path not in str(caught.value)


def test_invalid_payload_400_is_rejected(
    slack_receiver: SlackReceiver, notifier_context: PluginContext
) -> None:
    slack_receiver.respond(400, "invalid_payload")
    with pytest.raises(PluginRejected) as caught:
        slack_notifier(slack_receiver.url, notifier_context).send(digest_notice(), OPS)
    assert caught.value.code == "peer_rejected"
    assert "invalid_payload" in caught.value.message


def test_wrong_webhook_token_is_rejected_and_the_url_never_shown(
    slack_receiver: SlackReceiver, notifier_context: PluginContext
) -> None:
    url = slack_receiver.base_url + "/services/T0LEMUR01/B0LEMUR01/not-the-token-abc123"
    with pytest.raises(PluginRejected) as caught:
        slack_notifier(url, notifier_context).send(digest_notice(), OPS)
    assert "403" in caught.value.message
    assert "invalid_token" in caught.value.message
    assert "not-the-token-abc123" not in str(caught.value)
    assert "127.0.0.1" in caught.value.message


def test_receiver_down_is_transient_and_names_the_host_only(
    notifier_context: PluginContext,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/services/T1/B1/secret-token-xyz"
    with pytest.raises(PluginTransientError) as caught:
        slack_notifier(url, notifier_context).send(digest_notice(), OPS)
    assert caught.value.code == "peer_unreachable"
    assert "secret-token-xyz" not in str(caught.value)


def test_slow_receiver_times_out_as_transient(
    slack_receiver: SlackReceiver, notifier_context: PluginContext
) -> None:
    slack_receiver.slow(3)
    with pytest.raises(PluginTransientError) as caught:
        slack_notifier(slack_receiver.url, notifier_context, timeout=0.5).send(digest_notice(), OPS)
    assert caught.value.code == "peer_timeout"
