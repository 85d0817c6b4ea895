"""The notification jobs: the daily expiry pass, the events pass (every minute), and the
sending of one message.

Each pass writes its ledger rows, messages and send jobs together with its own completion
(``ctx.complete``) in one transaction: a pass that dies before committing wrote nothing and
runs again; one that committed is done. A send job sends first and records right after,
in a short transaction of its own (docs/decisions/0013-notification-delivery.md).
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select, update

from lemur.db import UnitOfWork
from lemur.errors import LemurError, NotFound
from lemur.jobs.registry import JobContext, JobKind
from lemur.notifications.delivery import notice, notifier, stored_options
from lemur.notifications.event_pass import events_pass
from lemur.notifications.expiry import expiry_pass
from lemur.notifications.models import MESSAGES, Channel, MessageState
from lemur.notifications.planner import EVENTS_BATCH, SEND_KIND, SEND_MAX_ATTEMPTS
from lemur.plugins.errors import PluginError, PluginTransientError
from lemur.plugins.values import Recipient

log = logging.getLogger("lemur.notifications")
MAX_ERROR = 1000
EXPIRY_KIND = "notifications.expiry_pass"
EVENTS_KIND = "notifications.events"


def _base_url(ctx: JobContext) -> str:
    return ctx.container.settings.effective_base_url


def run_expiry_pass(ctx: JobContext) -> None:
    with UnitOfWork(ctx.container.db) as uow, uow.write() as tx:
        result = expiry_pass(tx.session, now=ctx.now, base_url=_base_url(ctx))
        ctx.complete(tx.session)
    log.info("expiry pass: %d notice(s) in %d message(s)", result.notices, result.messages)


def run_events(ctx: JobContext) -> None:
    """Batches of audit events, each with its cursor move in its own transaction; the last
    (short) batch completes the job."""
    total = 0
    with UnitOfWork(ctx.container.db) as uow:
        while True:
            with uow.write() as tx:
                result = events_pass(
                    tx.session, now=ctx.now, base_url=_base_url(ctx), limit=EVENTS_BATCH
                )
                total += result.messages
                if not result.more:
                    ctx.complete(tx.session)
                    break
    if total:
        log.info("events: %d message(s) up to audit event %d", total, result.cursor)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, LemurError):
        text = f"{exc.code}: {exc.message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def send_message(ctx: JobContext) -> None:
    """Send one message through its channel, then record it as sent (or failed)."""
    message_id = int(ctx.args["message_id"])
    c = ctx.container
    with UnitOfWork(c.db) as uow:
        read = uow.read
        message = read.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one_or_none()
        if message is None or message.state != MessageState.PENDING.value:
            with uow.write() as tx:
                ctx.complete(tx.session)
            return
        channel = read.get(Channel, message.channel_id)

        def finish(state: MessageState, error: str | None) -> None:
            with uow.write() as tx:
                tx.session.execute(
                    update(MESSAGES)
                    .where(
                        MESSAGES.c.id == message_id,
                        MESSAGES.c.state == MessageState.PENDING.value,
                    )
                    .values(
                        state=state.value,
                        attempts=MESSAGES.c.attempts + 1,
                        last_error=error,
                        sent_at=ctx.now if state is MessageState.SENT else None,
                    )
                )
                if state is not MessageState.PENDING:
                    ctx.complete(tx.session)

        if channel is None:
            finish(MessageState.FAILED, "channel_deleted: the channel was deleted")
            return
        if not channel.enabled:
            finish(MessageState.FAILED, "channel_disabled: the channel is disabled")
            return
        try:
            options = stored_options(c.plugins, c.keyring, channel)
        except (NotFound, PluginError) as exc:
            finish(MessageState.FAILED, _error_text(exc))
            return
        payload = notice(
            event=message.event,
            subject=message.subject,
            text=message.body_text,
            html=message.body_html,
            message_id=message.message_id,
            link=message.link,
            certificate_ids=json.loads(message.certificate_ids),
        )
        try:
            with notifier(c, channel.plugin, options) as plugin:
                plugin.send(payload, [Recipient(message.recipient)])
        except Exception as exc:
            error = _error_text(exc)
            if isinstance(exc, PluginError) and not isinstance(exc, PluginTransientError):
                # rejected, or the options are wrong: retrying won't help
                finish(MessageState.FAILED, error)
                return
            # transient, or unexpected (retried like a transient failure)
            if ctx.last_attempt:
                finish(MessageState.FAILED, f"gave up after {ctx.attempt} attempts: {error}")
                return
            finish(MessageState.PENDING, error)
            raise
        finish(MessageState.SENT, None)
        log.info("sent message %d to %s on channel %s", message_id, message.recipient, channel.name)


KINDS = (
    JobKind(
        EXPIRY_KIND,
        run_expiry_pass,
        "notify owners of certificates crossing an expiry threshold (one digest per recipient)",
        max_attempts=3,
        lease_seconds=600,
    ),
    JobKind(
        EVENTS_KIND,
        run_events,
        "turn new audit events (issued, revoked, renewal failed, job failed...) into notices",
        max_attempts=3,
        backoff_base=10,
        lease_seconds=300,
    ),
    JobKind(
        SEND_KIND,
        send_message,
        "send one notification message through its channel",
        # A channel down for hours still delivers: 10 attempts over about four hours.
        max_attempts=SEND_MAX_ATTEMPTS,
        backoff_base=60,
        backoff_cap=3600,
        lease_seconds=120,
    ),
)

__all__ = ["KINDS"]
