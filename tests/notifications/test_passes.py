"""The expiry pass, the events pass and delivery, on both databases, with aiosmtpd and the
webhook receiver as the peers: digests, the ledger's once-only guarantee, catch-up, mutes,
a channel that is down and comes back."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.crypto.revocation import RevocationReason
from lemur.db import UnitOfWork
from lemur.jobs.models import Job
from lemur.jobs.outbox import enqueue
from lemur.notifications.events import Event
from lemur.notifications.expiry import expiry_pass
from lemur.notifications.models import LedgerEntry, Message
from tests.notifications.conftest import NWorld, email_options
from tests.peers.fixtures import WEBHOOK_SECRET
from tests.peers.receivers import WebhookReceiver
from tests.peers.smtp import ReceivedMail, SMTPPeer

DAY = dt.timedelta(days=1)


def messages(container: Container) -> list[Message]:
    with container.db.read() as session:
        rows = list(session.scalars(select(Message).order_by(Message.id)))
        session.expunge_all()
        return rows


def ledger(container: Container) -> list[tuple[str, str, int, str, bool]]:
    with container.db.read() as session:
        return [
            (r.subject, r.event, r.threshold, r.recipient, r.sent)
            for r in session.scalars(select(LedgerEntry).order_by(LedgerEntry.id))
        ]


def mails_to(smtp: SMTPPeer, address: str) -> list[ReceivedMail]:
    return [m for m in smtp.messages if address in m.rcpt_tos]


def plain_text(mail: ReceivedMail) -> str:
    part = mail.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_one_digest_per_member_listing_every_due_certificate(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("owners", channel)
    ids = [
        nworld.certificate("payments", f"{name}.example.com", days)
        for name, days in (("api", 40), ("pay", 50), ("shop", 60))
    ]
    nworld.certificate("search", "search.example.com", 200)  # not due
    clock.advance(35 * DAY)  # 5, 15 and 25 days left

    nworld.expiry_pass()

    assert sorted(m.rcpt_tos for m in smtp_server.messages) == [
        ("alice@example.test",),
        ("bob@example.test",),
    ]
    mail = mails_to(smtp_server, "alice@example.test")[0]
    message = mail.message
    assert message["Subject"] == "Lemur: 3 certificates expire soon, the first in 5 days"
    text = plain_text(mail)
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    base = nworld.container.settings.effective_base_url
    for cert_id, name, left in zip(ids, ("api", "pay", "shop"), (5, 15, 25), strict=True):
        assert f"- {name}.example.com" in text
        assert f"{left} days left" in text
        assert f"{base}/certificates/{cert_id}" in text
        assert f'href="{base}/certificates/{cert_id}"' in html
        assert f"{name}.example.com" in html
    assert "team: payments" in text
    assert "names: www.api.example.com" in text
    expires = (clock.now() + 5 * DAY).strftime("%Y-%m-%d")
    assert f"expires: {expires}" in text
    sent = messages(nworld.container)
    assert [m.state for m in sent] == ["sent", "sent"]
    assert {m.message_id for m in sent} == {
        mail.message["Message-ID"] for mail in smtp_server.messages
    }

    # Running the pass again (same day, or the next) sends nothing new.
    nworld.expiry_pass()
    clock.advance(DAY / 2)
    nworld.expiry_pass()
    assert len(smtp_server.messages) == 2
    assert len(messages(nworld.container)) == 2


def test_catch_up_after_downtime_sends_one_notice_then_the_next_threshold_once(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("owners", channel, addresses=(), team_id=nworld.team_ids["search"])
    cert = nworld.certificate("search", "late.example.com", 40)
    nworld.expiry_pass()
    assert smtp_server.messages == []  # 40 days left: nothing crossed

    clock.advance(30 * DAY)  # Lemur was down: 10 days left, past 30 and 14
    nworld.expiry_pass()
    assert len(smtp_server.messages) == 1
    assert sorted(ledger(nworld.container)) == [
        (f"certificate:{cert}", "expiring", 14, "carol@example.test", True),
        (f"certificate:{cert}", "expiring", 30, "carol@example.test", False),
    ]
    clock.advance(2 * DAY)  # 8 days: still inside the 14-day notice
    nworld.expiry_pass()
    assert len(smtp_server.messages) == 1

    clock.advance(2 * DAY)  # 6 days: the 7-day threshold, once
    nworld.expiry_pass()
    nworld.expiry_pass()
    assert len(smtp_server.messages) == 2
    assert "in 6 days" in smtp_server.messages[1].message["Subject"]


def test_muted_certificates_disabled_rules_and_channels_get_nothing(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    rule = nworld.rule("owners", channel, team_id=nworld.team_ids["search"])
    muted = nworld.certificate("search", "retiring.example.com", 20)
    with nworld.services() as s:
        s.notifications().mute(muted, "being retired")
    nworld.expiry_pass()
    assert smtp_server.messages == []
    with nworld.services() as s:
        assert [m.certificate_id for m in s.notifications().list_mutes()] == [muted]

    nworld.certificate("search", "kept.example.com", 20)
    with nworld.services() as s:
        s.notifications().update_rule(rule, {"enabled": False})
    nworld.expiry_pass()
    assert smtp_server.messages == []
    with nworld.services() as s:
        s.notifications().update_rule(rule, {"enabled": True})
        s.notifications().update_channel(channel, enabled=False)
    nworld.expiry_pass()
    assert smtp_server.messages == []
    with nworld.services() as s:
        s.notifications().update_channel(channel, enabled=True)
    nworld.expiry_pass()
    assert len(smtp_server.messages) == 1
    assert "kept.example.com" in smtp_server.messages[0].message["Subject"]


def test_a_channel_that_is_down_is_retried_and_delivers_once_when_back(
    nworld: NWorld, webhook_receiver: WebhookReceiver, clock: FrozenClock
) -> None:
    channel = nworld.channel(
        "hook", "webhook", {"url": webhook_receiver.url, "secret": WEBHOOK_SECRET, "timeout": 2}
    )
    nworld.rule("hook", channel)
    nworld.certificate("payments", "a.example.com", 10)
    nworld.certificate("search", "b.example.com", 12)
    webhook_receiver.down()

    nworld.expiry_pass()
    [message] = messages(nworld.container)  # one digest: the channel is the recipient
    assert message.state == "pending"
    assert message.attempts == 1
    assert message.last_error is not None
    assert "503" in message.last_error
    first_id = message.message_id

    clock.advance(dt.timedelta(hours=2))  # beyond the first backoff
    nworld.run_jobs()
    assert messages(nworld.container)[0].attempts == 2

    webhook_receiver.normal()
    clock.advance(dt.timedelta(hours=2))
    nworld.run_jobs()
    [message] = messages(nworld.container)
    assert message.state == "sent"
    assert message.message_id == first_id
    delivered = webhook_receiver.verified()
    assert len(delivered) == 1
    assert first_id.encode() in delivered[0].body
    clock.advance(dt.timedelta(hours=5))
    nworld.run_jobs()
    nworld.expiry_pass()
    assert len(webhook_receiver.verified()) == 1


def test_issued_and_revoked_events_become_messages(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule(
        "lifecycle",
        channel,
        events=(Event.ISSUED, Event.REVOKED),
        team_id=nworld.team_ids["search"],
    )
    nworld.events_pass()  # the cursor starts at the events already there
    cert = nworld.certificate("search", "new.example.com", 90)
    nworld.events_pass()
    assert [m.message["Subject"] for m in smtp_server.messages] == [
        "Lemur: certificate issued: new.example.com"
    ]
    with nworld.services() as s:
        s.revocation().revoke(cert, reason=RevocationReason.KEY_COMPROMISE)
    nworld.events_pass()
    nworld.events_pass()
    subjects = [m.message["Subject"] for m in smtp_server.messages]
    assert subjects == [
        "Lemur: certificate issued: new.example.com",
        "Lemur: certificate revoked: new.example.com",
    ]
    body = plain_text(smtp_server.messages[1])
    assert "reason: key_compromise" in body


def test_a_job_that_gave_up_notifies_the_security_team(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("jobs", channel, events=(Event.JOB_FAILED,), owners=False, security_team=True)
    nworld.events_pass()
    with nworld.container.db.write() as session:
        enqueue(session, "noop", {"seconds": -1}, now=clock.now(), max_attempts=1)
        session.commit()
    nworld.run_jobs()  # noop refuses -1 seconds: permanent failure, audit job.fail
    nworld.events_pass()
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("sam@example.test",)
    assert mail.message["Subject"].startswith("Lemur: job failed: job ")
    assert "noop" in plain_text(mail)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_running_the_pass_at_once_send_nothing_twice(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    from lemur.db import Database

    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("owners", channel)
    for n in range(20):
        nworld.certificate("payments" if n % 2 else "search", f"c{n}.example.com", 5 + n)
    url = nworld.container.settings.effective_database_url
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        db = Database.connect(url)
        try:
            barrier.wait()
            with UnitOfWork(db) as uow, uow.write() as tx:
                results.append(
                    expiry_pass(tx.session, now=clock.now(), base_url="https://lemur.test").messages
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0, 3]  # alice, bob (payments) and carol (search), once
    nworld.run_jobs()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
    ]
    with nworld.container.db.read() as session:
        # 10 payments certificates x 2 members + 10 search certificates x 1, each once
        notices = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.sent.is_(True))
        assert session.scalar(notices) == 30
        sends = session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "notifications.send")
        )
    assert sends == 3


def test_expired_revoked_and_replaced_certificates_get_no_expiry_notice(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("owners", channel, team_id=nworld.team_ids["search"])
    expired = nworld.certificate("search", "gone.example.com", 1)
    revoked = nworld.certificate("search", "revoked.example.com", 10)
    old = nworld.certificate("search", "old.example.com", 10)
    with nworld.services() as s:
        s.revocation().revoke(revoked, reason=RevocationReason.SUPERSEDED)
        s.issuance().renew(old)
    clock.advance(2 * DAY)
    nworld.expiry_pass()
    assert smtp_server.messages == []
    assert expired


def _pass_statements(container: Container, clock: FrozenClock) -> tuple[int, int]:
    """(statements, messages) of one expiry pass, rolled back afterwards."""
    from sqlalchemy import event

    count = {"n": 0}

    def on_execute(*_args: object) -> None:
        count["n"] += 1

    engine = container.db.write_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        with container.db.write() as session:
            result = expiry_pass(session, now=clock.now(), base_url="https://lemur.test")
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return count["n"], result.messages


def test_the_pass_costs_the_same_statements_whatever_the_inventory(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("owners", channel)
    for n in range(3):
        nworld.certificate("payments", f"due{n}.example.com", 10 + n)
    small = _pass_statements(nworld.container, clock)
    for n in range(15):
        nworld.certificate("search", f"later{n}.example.com", 100 + n)
    assert _pass_statements(nworld.container, clock) == small
    assert small[1] == 2  # alice and bob


def test_notification_metrics_count_sent_and_failed_by_channel(
    nworld: NWorld, webhook_receiver: WebhookReceiver, smtp_server: SMTPPeer
) -> None:
    from lemur.notifications.service import notification_metrics

    mail = nworld.channel("mail", "email", email_options(smtp_server))
    hook = nworld.channel(
        "hook", "webhook", {"url": webhook_receiver.url, "secret": WEBHOOK_SECRET}
    )
    nworld.rule("owners", mail)
    nworld.rule("hook", hook)
    nworld.certificate("payments", "m.example.com", 10)
    webhook_receiver.respond(400, "no")
    nworld.expiry_pass()
    with nworld.container.db.read() as session:
        assert dict(notification_metrics(session)) == {"mail": (2, 0), "hook": (0, 1)}


def test_an_smtp_server_that_is_down_keeps_the_message_pending_until_it_is_back(
    nworld: NWorld, clock: FrozenClock, tmp_path: Path
) -> None:
    from tests.peers.smtp import start_smtp

    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    peer = start_smtp(tmp_path / "first")
    channel = nworld.channel("mail", "email", email_options(peer))
    nworld.rule("owners", channel, team_id=nworld.team_ids["search"])
    nworld.certificate("search", "down.example.com", 10)
    peer.stop()

    nworld.expiry_pass()
    [message] = messages(nworld.container)
    assert message.state == "pending"
    assert message.last_error is not None
    assert message.attempts == 1

    back = start_smtp(tmp_path / "second")  # the relay is back (on a new port)
    try:
        with nworld.services() as s:
            s.notifications().update_channel(
                channel, options={"port": back.port, "ca_bundle": back.ca_pem}
            )
        clock.advance(dt.timedelta(hours=2))
        nworld.run_jobs()
        nworld.expiry_pass()
        [mail] = back.messages
        assert mail.rcpt_tos == ("carol@example.test",)
        assert mail.message["Message-ID"] == message.message_id
        assert messages(nworld.container)[0].state == "sent"
    finally:
        back.stop()


@pytest.mark.parametrize(
    ("action", "details", "subject"),
    [
        (
            "certificate.renewal_failed",
            {"error": "CA unreachable", "final": True},
            "renewal failed: ",
        ),
        ("certificate.renewal_manual", {}, "renew by hand: "),
    ],
)
def test_renewal_events_written_by_renewal_reach_the_owners(
    nworld: NWorld,
    smtp_server: SMTPPeer,
    clock: FrozenClock,
    action: str,
    details: dict[str, object],
    subject: str,
) -> None:
    from lemur.audit.service import Actor, AuditLog

    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule(
        "renewals",
        channel,
        events=(Event.RENEWAL_FAILED, Event.RENEWAL_NEEDED),
        team_id=nworld.team_ids["search"],
    )
    cert = nworld.certificate("search", "renew.example.com", 20)
    nworld.events_pass()
    with nworld.container.db.write() as session:
        AuditLog(session, clock).record(
            Actor("job:renewal.renew"),
            action,
            target_type="certificate",
            target_id=cert,
            outcome="failure",
            details=details,  # type: ignore[arg-type]
        )
        session.commit()
    nworld.events_pass()
    [mail] = smtp_server.messages
    assert mail.message["Subject"] == f"Lemur: {subject}renew.example.com"
    if details:
        assert "CA unreachable" in plain_text(mail)


def test_a_broken_audit_chain_reaches_the_security_team(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    from lemur.audit.service import Actor, AuditLog

    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule(
        "security",
        channel,
        events=(Event.AUDIT_CHAIN_BROKEN,),
        owners=False,
        security_team=True,
        addresses=("soc@example.test",),
    )
    nworld.events_pass()
    with nworld.container.db.write() as session:
        AuditLog(session, clock).record(
            Actor("job:audit.verify_chain"),
            "audit.chain_broken",
            outcome="failure",
            target_type="audit_event",
            target_id=12,
            details={"checked": 40, "problems": ["event 12: hash: hash mismatch"]},
        )
        session.commit()
    nworld.events_pass()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "sam@example.test",
        "soc@example.test",
    ]
    assert "hash mismatch" in plain_text(smtp_server.messages[0])
