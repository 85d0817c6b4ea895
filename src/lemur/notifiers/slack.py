"""``slack``: notices to a Slack incoming webhook (or a compatible one: Mattermost, Rocket.Chat).

The webhook URL is a secret (whoever has it can post to the channel): it is stored
encrypted, and errors name its host only. The POST goes through the guarded HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from lemur.notifiers._common import SecretURL, post
from lemur.plugins.base import Notifier
from lemur.plugins.values import Notice, Recipient

_HEADER_LIMIT = 150  # Slack's limit for a header block's text
_SECTION_LIMIT = 3000  # and for a section's text


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(notice: Notice) -> dict[str, Any]:
    """``text`` (the notification fallback) and ``blocks``: a header with the subject, the
    plain-text body (which lists the certificates), and a link to Lemur."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(notice.subject, _HEADER_LIMIT)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(_escape(notice.body), _SECTION_LIMIT)},
        },
    ]
    if notice.link:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{_escape(notice.link)}|Open in Lemur>"},
            }
        )
    return {"text": _cut(f"{notice.subject}\n{notice.body}", 4000), "blocks": blocks}


class SlackOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: SecretURL = Field(
        description="The incoming webhook URL (https://hooks.slack.com/services/...); secret"
    )
    timeout: float = Field(10.0, gt=0, le=60, description="Seconds to wait for Slack")


class SlackNotifier(Notifier[SlackOptions]):
    slug = "slack"
    title = "Slack"
    description = """
        Posts notices to a Slack incoming webhook (or a Slack-compatible one). Recipients are
        informative only: the message goes to the webhook's channel.
    """
    Options = SlackOptions

    def send(self, notice: Notice, recipients: Sequence[Recipient]) -> None:
        url = self.options.webhook_url.get_secret_value()
        parsed = httpx.URL(url)
        post(
            self.context,
            url,
            content=json.dumps(slack_payload(notice)).encode(),
            headers={"Content-Type": "application/json"},
            timeout=self.options.timeout,
            service="Slack",
            hide=(parsed.path, parsed.query.decode()) if parsed.path != "/" else (),
        )
