"""The built-in notifier plugins: ``email`` (SMTP), ``ses`` (AWS SES), ``slack`` (incoming
webhook) and ``webhook`` (signed JSON POST). See docs/notifiers.md.

"Send a test message" is :meth:`Notifier.send` with :func:`make_test_notice`: there is no separate
capability, so a test exercises exactly the path real notices take.
"""

from __future__ import annotations

import datetime as dt
import secrets

from lemur.plugins.values import Notice


def make_test_notice(
    now: dt.datetime, *, domain: str = "lemur.invalid", link: str | None = None
) -> Notice:
    """A short test message with a fresh message id (each test is its own message)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Notice(
        event="test",
        subject="Lemur test message",
        body=f"This is a test message from Lemur, sent {stamp}.\n"
        "If you can read it, this channel works.",
        html=f"<p>This is a test message from Lemur, sent {stamp}.</p>"
        "<p>If you can read it, this channel works.</p>",
        message_id=f"<lemur.test.{secrets.token_hex(12)}@{domain}>",
        link=link,
    )
