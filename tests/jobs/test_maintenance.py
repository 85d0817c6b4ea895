"""The maintenance jobs of the default schedule, run by the job engine on both databases:
the clean-up, the CRL refresh and the audit-chain verification."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select, text, update

from lemur.accounts.models import ApiToken, LoginFailure, TokenScope, User, WebSession
from lemur.audit.models import AuditEvent
from lemur.authorities.models import Authority
from lemur.authz import cli_principal
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.jobs import maintenance
from lemur.jobs.engine import JobEngine
from lemur.jobs.maintenance import last_chain_check
from lemur.jobs.models import JOBS, Job, JobState
from lemur.jobs.outbox import enqueue
from lemur.jobs.schedule import DEFAULT_SCHEDULE, fire_due, runnable_schedule
from lemur.services import Services

DAY = dt.timedelta(days=1)


def run_job(container: Container, kind: str) -> Job:
    """Enqueue one job of ``kind``, run what is due, return the job as it ended."""
    with container.db.write() as session:
        job_id = enqueue(session, kind, {}, now=container.clock.now(), max_attempts=1)
        session.commit()
    JobEngine(container, container.job_kinds).run_due()
    with container.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def events(container: Container, action: str) -> list[AuditEvent]:
    with container.db.read() as session:
        rows = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def count(container: Container, model: Any) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_default_schedule_runs_the_maintenance_kinds(container: Container) -> None:
    kinds = {e.kind for e in runnable_schedule(DEFAULT_SCHEDULE, container.job_kinds)}
    assert {"maintenance.cleanup", "authorities.crl_refresh", "audit.verify_chain"} <= kinds


# -- maintenance.cleanup ---------------------------------------------------------------------


class Rows:
    """Rows of every kind the clean-up looks at, each named by what it should become."""

    def __init__(self, container: Container) -> None:
        self.c = container
        self.keep: dict[str, set[int]] = {"sessions": set(), "tokens": set(), "jobs": set()}
        self.gone: dict[str, set[int]] = {"sessions": set(), "tokens": set(), "jobs": set()}
        with container.db.read() as session:
            user_id = session.scalar(select(User.id).where(User.username == "admin"))
        assert user_id is not None
        self.user_id = user_id
        self.n = 0

    def session(self, expires: dt.datetime, *, keep: bool) -> None:
        self.n += 1
        with self.c.db.write() as s:
            row = WebSession(
                token_hash=f"{self.n:064d}",
                user_id=self.user_id,
                created_at=expires - DAY,
                expires_at=expires,
            )
            s.add(row)
            s.commit()
            (self.keep if keep else self.gone)["sessions"].add(row.id)

    def token(
        self, expires: dt.datetime, *, revoked: dt.datetime | None = None, keep: bool
    ) -> None:
        self.n += 1
        with self.c.db.write() as s:
            row = ApiToken(
                public_id=f"clean{self.n:010d}",
                secret_hash="0" * 64,
                user_id=self.user_id,
                name=f"t{self.n}",
                scope=TokenScope.READ,
                created_at=expires - 90 * DAY,
                expires_at=expires,
                revoked_at=revoked,
            )
            s.add(row)
            s.commit()
            (self.keep if keep else self.gone)["tokens"].add(row.id)

    def job(self, state: JobState, finished: dt.datetime | None, *, keep: bool) -> None:
        now = self.c.clock.now()
        with self.c.db.write() as s:
            job_id = enqueue(s, "test.old", {}, now=now - 60 * DAY)
            s.execute(
                update(JOBS).where(JOBS.c.id == job_id).values(state=state, finished_at=finished)
            )
            s.commit()
        assert job_id is not None
        (self.keep if keep else self.gone)["jobs"].add(job_id)

    def left(self) -> dict[str, set[int]]:
        with self.c.db.read() as s:
            return {
                "sessions": set(s.scalars(select(WebSession.id))),
                "tokens": set(s.scalars(select(ApiToken.id))),
                "jobs": set(s.scalars(select(Job.id).where(Job.kind == "test.old"))),
            }


def test_cleanup_deletes_exactly_what_is_expired_and_audits_the_counts(
    container: Container, clock: FrozenClock
) -> None:
    now = clock.now()
    rows = Rows(container)
    rows.session(now - dt.timedelta(minutes=1), keep=False)
    rows.session(now, keep=False)  # expires now: no longer usable
    rows.session(now + dt.timedelta(minutes=1), keep=True)
    rows.token(now - 31 * DAY, keep=False)
    rows.token(now - 29 * DAY, keep=True)  # expired, kept for 30 days
    rows.token(now + 10 * DAY, revoked=now - 31 * DAY, keep=False)
    rows.token(now + 10 * DAY, revoked=now - 2 * DAY, keep=True)
    rows.token(now + 10 * DAY, keep=True)
    rows.job(JobState.SUCCEEDED, now - 31 * DAY, keep=False)
    rows.job(JobState.FAILED, now - 31 * DAY, keep=False)
    rows.job(JobState.CANCELLED, now - 31 * DAY, keep=False)
    rows.job(JobState.SUCCEEDED, now - 29 * DAY, keep=True)
    rows.job(JobState.PENDING, None, keep=True)  # created 60 days ago, never finished
    rows.job(JobState.RUNNING, None, keep=True)
    with container.db.write() as s:
        s.add(LoginFailure(username="x", client_address="192.0.2.1", at=now - DAY))
        s.add(LoginFailure(username="x", client_address="192.0.2.1", at=now))
        s.commit()
    before = rows.left()
    for table, ids in rows.keep.items():
        assert ids <= before[table]

    job = run_job(container, "maintenance.cleanup")

    assert job.state == JobState.SUCCEEDED, job.last_error
    left = rows.left()
    for table in rows.keep:
        assert left[table] == before[table] - rows.gone[table], table
    assert count(container, LoginFailure) == 1
    (event,) = events(container, "maintenance.cleanup")
    assert event.actor == "job:maintenance.cleanup"
    details = json.loads(event.details)
    assert details["sessions"] == 2
    assert details["tokens"] == 2
    assert details["jobs"] == 3
    assert details["login_failures"] == 1
    assert details["job_retention_days"] == 30

    # Nothing left to delete: the next run deletes nothing and writes no event.
    assert run_job(container, "maintenance.cleanup").state == JobState.SUCCEEDED
    assert rows.left()["tokens"] == left["tokens"]
    assert len(events(container, "maintenance.cleanup")) == 1


def test_a_backlog_is_cleaned_in_bounded_batches(
    container: Container, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "BATCH", 3)
    rows = Rows(container)
    for _ in range(7):
        rows.session(clock.now() - DAY, keep=False)
    first = run_job(container, "maintenance.cleanup")
    assert first.state == JobState.SUCCEEDED
    assert len(rows.left()["sessions"]) == 4
    # A run that filled its batch enqueued the next one, due at once.
    engine = JobEngine(container, container.job_kinds)
    assert engine.run_due() == 1
    assert engine.run_due() == 1
    assert engine.run_due() == 0
    assert rows.left()["sessions"] == set()
    counts = [json.loads(e.details)["sessions"] for e in events(container, "maintenance.cleanup")]
    assert counts == [3, 3, 1]
    with container.db.read() as s:
        kinds = list(s.scalars(select(Job.state).where(Job.kind == "maintenance.cleanup")))
    assert kinds == ["succeeded"] * 3


def test_the_job_retention_is_a_setting(container: Container, clock: FrozenClock) -> None:
    settings = container.settings.model_copy(update={"job_retention_days": 7})
    container.settings = settings
    rows = Rows(container)
    rows.job(JobState.SUCCEEDED, clock.now() - 8 * DAY, keep=False)
    rows.job(JobState.SUCCEEDED, clock.now() - 6 * DAY, keep=True)
    run_job(container, "maintenance.cleanup")
    assert rows.left()["jobs"] == rows.keep["jobs"]


# -- authorities.crl_refresh -----------------------------------------------------------------


def authorities(container: Container) -> dict[str, Authority]:
    with container.db.read() as session:
        rows = list(session.scalars(select(Authority).where(Authority.has_key.is_(True))))
        for row in rows:
            _ = row.crl_der  # deferred
            session.expunge(row)
    return {a.name: a for a in rows}


def ca_public_key(container: Container, authority_id: int) -> Any:
    with Services(container, cli_principal()) as services:
        der = services.authorities().ca_certificate_der(authority_id)
    return x509.load_der_x509_certificate(der).public_key()


def crl_of(authority: Authority) -> x509.CertificateRevocationList:
    assert authority.crl_der is not None
    return x509.load_der_x509_crl(authority.crl_der)


def number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def test_crls_are_republished_before_their_next_update(
    container: Container, clock: FrozenClock
) -> None:
    # A fresh installation has published no CRL: the first run publishes them all.
    assert run_job(container, "authorities.crl_refresh").state == JobState.SUCCEEDED
    first = authorities(container)
    assert first, "init makes the local CAs"
    for authority in first.values():
        crl = crl_of(authority)
        assert crl.is_signature_valid(ca_public_key(container, authority.id))
        assert crl.next_update_utc == clock.now() + dt.timedelta(days=3)

    # Hourly runs while more than half the validity is left change nothing.
    for _ in range(30):
        clock.advance(dt.timedelta(hours=1))
        run_job(container, "authorities.crl_refresh")
    assert {n: a.crl_number for n, a in authorities(container).items()} == {
        n: a.crl_number for n, a in first.items()
    }

    # Close to nextUpdate (36 h left or less): re-signed with a higher number.
    clock.advance(dt.timedelta(hours=7))
    assert run_job(container, "authorities.crl_refresh").state == JobState.SUCCEEDED
    for name, authority in authorities(container).items():
        crl = crl_of(authority)
        assert number(crl) == number(crl_of(first[name])) + 1
        assert crl.is_signature_valid(ca_public_key(container, authority.id))
        assert crl.last_update_utc == clock.now()
        assert crl.next_update_utc == clock.now() + dt.timedelta(days=3)

    # Runs every hour for a week: no relying party ever sees an expired CRL.
    for _ in range(7 * 24):
        clock.advance(dt.timedelta(hours=1))
        run_job(container, "authorities.crl_refresh")
        for authority in authorities(container).values():
            next_update = crl_of(authority).next_update_utc
            assert next_update is not None
            assert next_update > clock.now() + dt.timedelta(hours=35)


def test_two_runners_refreshing_at_once_publish_one_new_number(
    container: Container, clock: FrozenClock
) -> None:
    run_job(container, "authorities.crl_refresh")
    before = {n: number(crl_of(a)) for n, a in authorities(container).items()}
    clock.advance(dt.timedelta(days=2))
    with container.db.write() as session:
        for _ in range(2):
            enqueue(session, "authorities.crl_refresh", {}, now=clock.now())
        session.commit()
    engines = [JobEngine(container, container.job_kinds, worker=f"w{i}") for i in range(2)]
    start = threading.Barrier(2)
    ran: list[int] = []

    def work(engine: JobEngine) -> None:
        start.wait()
        ran.append(engine.run_due(limit=1))

    threads = [threading.Thread(target=work, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ran) == [1, 1]
    with container.db.read() as session:
        states = list(
            session.scalars(select(Job.state).where(Job.kind == "authorities.crl_refresh"))
        )
    assert states == ["succeeded"] * 3
    after = {n: number(crl_of(a)) for n, a in authorities(container).items()}
    assert after == {n: v + 1 for n, v in before.items()}


# -- audit.verify_chain ----------------------------------------------------------------------


def tamper(container: Container, statement: str, **params: Any) -> None:
    with container.db.write() as session:
        session.execute(text(statement), params)
        session.commit()


def test_an_intact_chain_passes_and_writes_nothing(container: Container) -> None:
    events_before = count(container, AuditEvent)
    job = run_job(container, "audit.verify_chain")
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert count(container, AuditEvent) == events_before
    head = json.loads(job.args)["verified_head"]
    assert head.startswith(f"{events_before}:")
    # What the audit page shows for a log too long to walk on every view.
    with container.db.read() as session:
        check = last_chain_check(session)
    assert check is not None
    assert (check.ok, check.verified_seq, check.error) == (True, events_before, None)


def test_a_tampered_event_fails_the_job_and_records_chain_broken(container: Container) -> None:
    assert run_job(container, "audit.verify_chain").state == JobState.SUCCEEDED
    tamper(container, "UPDATE audit_events SET actor = 'user:mallory' WHERE seq = 2")

    job = run_job(container, "audit.verify_chain")

    assert job.state == JobState.FAILED
    assert job.last_error is not None
    assert "PermanentJobError" in job.last_error
    assert "event 2: changed" in job.last_error
    (broken,) = events(container, "audit.chain_broken")
    assert broken.outcome == "failure"
    assert broken.actor == "job:audit.verify_chain"
    assert (broken.target_type, broken.target_id) == ("audit_event", "2")
    details = json.loads(broken.details)
    assert details["first_broken_seq"] == 2
    assert details["job_id"] == job.id
    assert any("event 2: changed" in p for p in details["problems"])
    # The job failing is itself the usual job.fail event.
    assert [e.target_id for e in events(container, "job.fail")] == [str(job.id)]
    with container.db.read() as session:
        check = last_chain_check(session)
    assert check is not None
    assert not check.ok
    assert "event 2: changed" in (check.error or "")


def test_a_log_rewound_since_the_last_verification_is_caught(container: Container) -> None:
    with Services(container, cli_principal()) as services:
        services.accounts().create_team("one")
        services.accounts().create_team("two")
    last = count(container, AuditEvent)
    assert run_job(container, "audit.verify_chain").state == JobState.SUCCEEDED
    # Drop the last event and move the head back: the chain itself is intact again.
    with container.db.read() as session:
        seq, hash_ = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq == last - 1)
        ).one()
    tamper(container, "DELETE FROM audit_events WHERE seq = :s", s=last)
    tamper(container, "UPDATE audit_head SET seq = :s, hash = :h", s=seq, h=hash_)

    job = run_job(container, "audit.verify_chain")

    assert job.state == JobState.FAILED
    assert "head_mismatch" in (job.last_error or "")
    (broken,) = events(container, "audit.chain_broken")
    assert "gone" in json.loads(broken.details)["problems"][0]


def test_the_schedule_fires_the_verification_daily(
    container: Container, clock: FrozenClock
) -> None:
    entries = runnable_schedule(DEFAULT_SCHEDULE, container.job_kinds)
    engine = JobEngine(container, container.job_kinds)
    for _ in range(48):
        with container.db.write() as session:
            fire_due(session, entries, clock.now())
            session.commit()
        engine.run_due()
        clock.advance(dt.timedelta(hours=1))
    with container.db.read() as session:
        by_kind = dict(
            session.execute(
                select(Job.kind, func.count())
                .where(Job.state == JobState.SUCCEEDED.value)
                .group_by(Job.kind)
            ).all()
        )
    # Started at 12:00: the day's 03:00 tick fires at once, then one each day.
    assert by_kind["audit.verify_chain"] == 3
    assert by_kind["maintenance.cleanup"] == 48
    assert by_kind["authorities.crl_refresh"] == 48


def test_events_deleted_at_the_end_are_reported_as_truncated(container: Container) -> None:
    last = count(container, AuditEvent)
    tamper(container, "DELETE FROM audit_events WHERE seq = :s", s=last)
    job = run_job(container, "audit.verify_chain")
    assert job.state == JobState.FAILED
    assert f"event {last}: truncated" in (job.last_error or "")
    (broken,) = events(container, "audit.chain_broken")
    assert json.loads(broken.details)["first_broken_seq"] == last
