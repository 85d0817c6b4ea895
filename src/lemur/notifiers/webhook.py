"""``webhook``: notices as a JSON POST signed with HMAC-SHA256.

The request::

    POST <url>
    Content-Type: application/json
    X-Lemur-Message-Id: <lemur.n.3f2a...@lemur.example>
    X-Lemur-Signature: t=1764590400,v1=5f1c...e9

    {"version": 1, "event": "expiring", "subject": "...", "text": "...", "html": "..." | null,
     "certificate_ids": [12, 13], "message_id": "<...>", "link": "https://..." | null,
     "sent_at": "2026-12-01T12:00:00Z", "recipients": ["ops@example.com"]}

``v1`` is the lowercase hex HMAC-SHA256, keyed with the channel's secret, of
``"<t>." + <raw body bytes>``. A receiver recomputes it over the body exactly as received,
compares in constant time, and refuses a timestamp further than its tolerance (default
300 s) from its own clock: a captured request cannot be replayed later. Within the window
``message_id`` identifies repeats. :func:`verify_signature` does all of this.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from lemur.notifiers._common import HttpURL, post
from lemur.plugins.base import Notifier
from lemur.plugins.values import Notice, Recipient

SIGNATURE_HEADER = "X-Lemur-Signature"
MESSAGE_ID_HEADER = "X-Lemur-Message-Id"
DEFAULT_TOLERANCE = 300


class InvalidSignature(ValueError):
    """The request is not signed with the secret, or not recently (the reason says which)."""


def compute_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    now: float | dt.datetime | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check ``X-Lemur-Signature`` for ``body`` (the raw bytes received); return its timestamp.

    ``now`` defaults to the current time. Several ``v1=`` entries are accepted (one must
    match), so a sender may sign with an old and a new secret while they are rotated.
    Raises InvalidSignature: malformed header, timestamp outside ``tolerance`` seconds, or
    no matching signature."""
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("malformed signature header (expected t=<seconds>,v1=<hex>)")
    if now is None:
        current = time.time()
    elif isinstance(now, dt.datetime):
        current = now.timestamp()
    else:
        current = now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"timestamp outside the tolerance of {tolerance:g} s")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignature("no signature matches")
    return timestamp


def webhook_payload(notice: Notice, recipients: Sequence[Recipient], sent_at: dt.datetime) -> bytes:
    payload = {
        "version": 1,
        "event": notice.event,
        "subject": notice.subject,
        "text": notice.body,
        "html": notice.html,
        "certificate_ids": list(notice.certificate_ids),
        "message_id": notice.message_id,
        "link": notice.link,
        "sent_at": sent_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "recipients": [r.address for r in recipients],
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpURL = Field(description="Where to POST (https:// strongly recommended)")
    secret: SecretStr = Field(
        description="HMAC-SHA256 key shared with the receiver (at least 16 characters); secret"
    )
    timeout: float = Field(10.0, gt=0, le=60, description="Seconds to wait for the receiver")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the secret must have at least 16 characters")
        return value


class WebhookNotifier(Notifier[WebhookOptions]):
    slug = "webhook"
    title = "Webhook (signed JSON)"
    description = """
        POSTs each notice as JSON signed with HMAC-SHA256 (X-Lemur-Signature, timestamped
        against replay). See docs/notifiers.md for the payload and how to verify it.
    """
    Options = WebhookOptions

    def send(self, notice: Notice, recipients: Sequence[Recipient]) -> None:
        now = self.context.clock.now()
        body = webhook_payload(notice, recipients, now)
        timestamp = int(now.timestamp())
        post(
            self.context,
            self.options.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                MESSAGE_ID_HEADER: notice.message_id,
                SIGNATURE_HEADER: signature_header(
                    self.options.secret.get_secret_value(), timestamp, body
                ),
            },
            timeout=self.options.timeout,
            service="the webhook receiver",
        )
