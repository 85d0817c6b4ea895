"""Expiry notices skip archived certificates and those whose notifications were turned off
in their settings (PATCH notify=false), on both databases, with aiosmtpd as the peer."""

from __future__ import annotations

import datetime as dt

from lemur.certificates.editing import CertificateChanges
from lemur.clock import FrozenClock
from tests.notifications.conftest import NWorld, email_options
from tests.peers.smtp import SMTPPeer

DAY = dt.timedelta(days=1)


def test_archived_and_notify_off_certificates_get_no_expiry_notice(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("owners", channel)
    kept = nworld.certificate("payments", "kept.example.com", 40)
    archived = nworld.certificate("payments", "archived.example.com", 40)
    quiet = nworld.certificate("payments", "quiet.example.com", 40)
    with nworld.services() as s:
        s.editing().archive(archived)
        s.editing().update(quiet, CertificateChanges(notify=False))
    clock.advance(35 * DAY)  # 5 days left for all three

    nworld.expiry_pass()

    assert sorted(m.rcpt_tos for m in smtp_server.messages) == [
        ("alice@example.test",),
        ("bob@example.test",),
    ]
    for mail in smtp_server.messages:
        assert mail.message["Subject"] == "Lemur: certificate kept.example.com expires in 5 days"
        body = mail.message.get_body(("plain",))
        assert body is not None
        text = str(body.get_content())
        assert f"/certificates/{kept}" in text
        assert "archived.example.com" not in text
        assert "quiet.example.com" not in text

    # Back from the archive, its owners hear about it at the next pass.
    with nworld.services() as s:
        s.editing().unarchive(archived)
    clock.advance(DAY / 2)
    nworld.expiry_pass()
    later = smtp_server.messages[2:]
    assert len(later) == 2
    assert all("archived.example.com" in m.message["Subject"] for m in later)
