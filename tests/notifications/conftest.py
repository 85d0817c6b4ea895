"""Notification tests: a world of teams, users with addresses and certificates, channels on
the real peers (aiosmtpd with STARTTLS and AUTH, the signed-webhook receiver), and the jobs
driven by ``JobEngine.run_due()`` under a frozen clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.jobs.engine import JobEngine
from lemur.notifications.events import Event
from lemur.notifications.service import RuleInput
from lemur.services import Services
from tests.api.conftest import client, world  # noqa: F401  (fixtures)
from tests.peers.fixtures import (  # noqa: F401  (fixtures)
    WEBHOOK_SECRET,
    _smtp_server_session,
    _webhook_receiver_session,
    smtp_server,
    webhook_receiver,
)
from tests.peers.smtp import email_options  # noqa: F401  (for the tests)


@dataclass
class NWorld:
    container: Container
    clock: FrozenClock
    team_ids: dict[str, int] = field(default_factory=dict)
    authority_id: int = 0

    def services(self) -> Services:
        return Services(self.container, cli_principal())

    def certificate(self, team: str, name: str, days: int) -> int:
        with self.services() as s:
            view = s.issuance().issue(
                NewCertificate(
                    team_id=self.team_ids[team],
                    authority_id=self.authority_id,
                    common_name=name,
                    dns_names=(name, f"www.{name}"),
                    validity_days=days,
                )
            )
        return view.certificate.id

    def channel(self, name: str, plugin: str, options: dict[str, Any], **kw: Any) -> int:
        with self.services() as s:
            return s.notifications().create_channel(name, plugin, options, **kw).id

    def rule(
        self,
        name: str,
        channel_id: int,
        events: tuple[Event, ...] = (Event.EXPIRING,),
        **kw: Any,
    ) -> int:
        spec: dict[str, Any] = {
            "name": name,
            "channel_id": channel_id,
            "events": events,
            "thresholds": (30, 14, 7, 3, 1),
            "owners": True,
            "security_team": False,
            "addresses": (),
            "team_id": None,
            "enabled": True,
        }
        spec.update(kw)
        with self.services() as s:
            return s.notifications().create_rule(RuleInput(**spec)).id

    def run_jobs(self, rounds: int = 5) -> int:
        engine = JobEngine(self.container, self.container.job_kinds)
        ran = 0
        for _ in range(rounds):
            n = engine.run_due()
            ran += n
            if not n:
                break
        return ran

    def expiry_pass(self) -> int:
        from lemur.jobs.outbox import enqueue

        with self.container.db.write() as session:
            job = enqueue(
                session, "notifications.expiry_pass", {}, now=self.clock.now(), max_attempts=1
            )
            session.commit()
        assert job is not None
        return self.run_jobs()

    def events_pass(self) -> int:
        from lemur.jobs.outbox import enqueue

        with self.container.db.write() as session:
            enqueue(session, "notifications.events", {}, now=self.clock.now(), max_attempts=1)
            session.commit()
        return self.run_jobs()


@pytest.fixture
def nworld(container: Container, clock: FrozenClock) -> NWorld:
    w = NWorld(container, clock)
    with w.services() as s:
        accounts = s.accounts()
        for team, members in (
            ("payments", ("alice", "bob")),
            ("search", ("carol",)),
        ):
            t = accounts.create_team(team)
            w.team_ids[team] = t.id
            for member in members:
                user, _ = accounts.create_user(
                    member, role=Role.MEMBER, email=f"{member}@example.test"
                )
                accounts.add_member(t, user)
        accounts.create_user("sam", role=Role.SECURITY, email="sam@example.test")
        # A member without an address gets nothing and breaks nothing.
        quiet, _ = accounts.create_user("quiet", role=Role.MEMBER)
        accounts.add_member(accounts.get_team(w.team_ids["payments"]), quiet)
        w.authority_id = s.authorities().find("local-issuing-ca").id
    return w
