"""A request a CA never answered fails, and the owning team hears of it once: the
``request_failed`` event from the real flow (an ACME order at Pebble, polled by the job,
given up after a week), delivered to a real SMTP server."""

from __future__ import annotations

import datetime as dt

from lemur.authorities.specs import RemoteAuthoritySpec
from lemur.certificates.requests import NewCertificate
from lemur.clock import FrozenClock
from lemur.notifications.events import Event
from lemur.orders.records import RequestRecord
from tests.issuers.acme.conftest import dns_options, unique
from tests.notifications.conftest import NWorld
from tests.notifications.test_passes import plain_text
from tests.peers.pebble import PebblePeer
from tests.peers.smtp import SMTPPeer, email_options


def test_a_request_that_failed_at_the_ca_is_told_to_the_team_once(
    nworld: NWorld, smtp_server: SMTPPeer, clock: FrozenClock, pebble: PebblePeer
) -> None:
    channel = nworld.channel("mail", "email", email_options(smtp_server))
    nworld.rule("failures", channel, events=(Event.REQUEST_FAILED,))
    nworld.events_pass()  # the cursor starts here: what happens next is news
    name = unique("late") + "." + pebble.zone
    with nworld.services() as s:
        authority = s.authorities().create_remote(
            RemoteAuthoritySpec(name="acme-ca", plugin="acme", options=dns_options(pebble))
        )
        pending = s.issuance().issue(
            NewCertificate(
                team_id=nworld.team_ids["payments"], authority_id=authority.id, dns_names=(name,)
            )
        )
    assert isinstance(pending, RequestRecord)
    clock.advance(dt.timedelta(days=8))
    nworld.run_jobs()  # the poll gives up: the CA did not answer within 7 days
    nworld.events_pass()
    nworld.events_pass()  # a second pass sends nothing again
    # One message per member of the team with an address (each their own digest).
    assert sorted(m.rcpt_tos for m in smtp_server.messages) == [
        ("alice@example.test",),
        ("bob@example.test",),
    ]
    mail = smtp_server.messages[0]
    assert mail.message["Subject"] == f"Lemur: request failed at the CA: {name}"
    body = plain_text(mail)
    assert "within 7 days" in body
    assert f"/requests/{pending.id}" in body
