"""The housekeeping jobs of the default schedule (lemur.jobs.schedule):

- ``maintenance.cleanup`` (hourly): deletes what no longer serves anyone: expired login
  sessions, API tokens expired or revoked more than :data:`TOKEN_RETENTION` ago (until
  then a client using one is told it expired or was revoked, rather than that it is
  unknown), login failures older than the throttling window (they no longer count), and
  finished jobs older than the ``job_retention_days`` setting (default 30).
- ``authorities.crl_refresh`` (hourly): signs anew the CRL of every authority whose CRL
  is in the second half of its validity, so relying parties never fetch an expired CRL.
- ``audit.verify_chain`` (daily): walks the audit chain; a broken chain is an audit event
  ``audit.chain_broken`` (the security team is notified of it) and a failed job.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from lemur.accounts.models import ApiToken, FormSubmission, LoginFailure, WebSession
from lemur.accounts.submissions import RETENTION as SUBMISSION_RETENTION
from lemur.audit.chain import ChainProblem, RecordedHead, check_recorded_head, verify_chain
from lemur.audit.service import Actor, AuditLog
from lemur.authorities.crl import CRL_LIFETIME
from lemur.authorities.models import Authority
from lemur.config import Settings
from lemur.errors import LemurError, NotFound
from lemur.jobs.models import FINISHED, JOBS, JobState
from lemur.jobs.outbox import enqueue
from lemur.jobs.registry import JobContext, JobKind, PermanentJobError
from lemur.orders.responder import remove_stale

# -- maintenance.cleanup -------------------------------------------------------------------

CLEANUP = "maintenance.cleanup"
TOKEN_RETENTION = dt.timedelta(days=30)
# Rows deleted per table per run. A run that reaches it enqueues a follow-up run at once,
# so a backlog (the first clean-up of an old installation) is worked off in short
# transactions that never hold the SQLite write lock for long.
BATCH = 1000


def _delete_batch(session: Session, table: Table, *conditions: Any) -> int:
    """Delete up to BATCH rows matching ``conditions``, oldest ids first; how many."""
    ids = select(table.c.id).where(*conditions).order_by(table.c.id).limit(BATCH)
    result = session.execute(
        delete(table)
        .where(table.c.id.in_(ids.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cleanup_counts(session: Session, *, now: dt.datetime, settings: Settings) -> dict[str, int]:
    """Delete one batch of each kind of expired row in ``session``'s transaction."""
    sessions = WebSession.__table__
    tokens = ApiToken.__table__
    failures = LoginFailure.__table__
    submissions = FormSubmission.__table__
    token_cutoff = now - TOKEN_RETENTION
    job_cutoff = now - dt.timedelta(days=settings.job_retention_days)
    failure_cutoff = now - dt.timedelta(seconds=settings.login_failure_window_seconds)
    assert isinstance(sessions, Table)
    assert isinstance(tokens, Table)
    assert isinstance(failures, Table)
    assert isinstance(submissions, Table)
    return {
        "sessions": _delete_batch(session, sessions, sessions.c.expires_at <= now),
        "tokens": _delete_batch(
            session,
            tokens,
            or_(tokens.c.expires_at <= token_cutoff, tokens.c.revoked_at <= token_cutoff),
        ),
        "login_failures": _delete_batch(session, failures, failures.c.at < failure_cutoff),
        "form_submissions": _delete_batch(
            session, submissions, submissions.c.created_at < now - SUBMISSION_RETENTION
        ),
        "jobs": _delete_batch(
            session,
            JOBS,
            JOBS.c.state.in_([s.value for s in FINISHED]),
            JOBS.c.finished_at < job_cutoff,
        ),
        "acme_challenges": remove_stale(session, now),
    }


def cleanup(ctx: JobContext) -> None:
    """One batch per table, its audit event and the job's completion in one transaction:
    what was deleted is always audited, and a repeat of the job deletes nothing twice."""
    now = ctx.now
    with ctx.container.db.write() as session:
        counts = cleanup_counts(session, now=now, settings=ctx.container.settings)
        if any(counts.values()):
            AuditLog(session, ctx.container.clock).record(
                Actor(f"job:{CLEANUP}"),
                CLEANUP,
                target_type="job",
                target_id=ctx.job_id,
                details={
                    **counts,
                    "job_retention_days": ctx.container.settings.job_retention_days,
                    "token_retention_days": TOKEN_RETENTION.days,
                },
            )
        if any(n >= BATCH for n in counts.values()):
            enqueue(
                session,
                CLEANUP,
                {"continues": ctx.job_id},
                now=now,
                key=f"cleanup:continue:{ctx.job_id}",
                max_attempts=ctx.max_attempts,
            )
        ctx.complete(session)
        session.commit()


# -- authorities.crl_refresh ---------------------------------------------------------------

CRL_REFRESH = "authorities.crl_refresh"
# Re-signed when less than half the CRL's validity is left, the rule the CRL route applies
# when it is fetched (lemur.authorities.crl.crl_needs_refresh): with CRLs valid for 3 days
# and an hourly run, a published CRL always has more than 35 hours to go, and a runner
# that is down for a day and a half still leaves no relying party with an expired one.
CRL_REFRESH_MARGIN = CRL_LIFETIME / 2


def crls_due(session: Session, now: dt.datetime) -> list[int]:
    """Authorities holding their key whose CRL is stale, missing, or due; deactivated ones
    too, since the certificates they issued are still checked against their CRL."""
    return list(
        session.scalars(
            select(Authority.id)
            .where(
                Authority.has_key.is_(True),
                or_(
                    Authority.crl_stale.is_(True),
                    Authority.crl_next_update.is_(None),
                    Authority.crl_next_update < now + CRL_REFRESH_MARGIN,
                ),
            )
            .order_by(Authority.id)
        )
    )


def crl_refresh(ctx: JobContext) -> None:
    """Publish the next CRL of each due authority through the authorities service, which
    locks the authority's row and checks again under the lock: two runners (or a runner
    and a relying party fetching the CRL) publish one new number, never the same one twice.
    One authority failing does not keep the others from being refreshed; the job then
    fails (and is retried) naming it."""
    with ctx.container.db.read() as session:
        due = crls_due(session, ctx.now)
    failed: list[str] = []
    for authority_id in due:
        with ctx.services() as services:
            try:
                services.authorities().current_crl(authority_id)
            except NotFound:
                continue  # its issuer plugin publishes no CRL here
            except LemurError as exc:
                failed.append(f"authority {authority_id}: {exc.message} ({exc.code})")
    if failed:
        raise RuntimeError("CRL not refreshed for " + "; ".join(failed))


# -- audit.verify_chain --------------------------------------------------------------------

VERIFY_CHAIN = "audit.verify_chain"
CHAIN_BROKEN = "audit.chain_broken"
MAX_REPORTED = 10


def _last_verified_head(session: Session) -> RecordedHead | None:
    """The head the previous successful verification recorded (in its job's args)."""
    args = session.scalar(
        select(JOBS.c.args)
        .where(JOBS.c.kind == VERIFY_CHAIN, JOBS.c.state == JobState.SUCCEEDED.value)
        .order_by(JOBS.c.finished_at.desc(), JOBS.c.id.desc())
        .limit(1)
    )
    if args is None:
        return None
    value = json.loads(args).get("verified_head")
    if not isinstance(value, str):
        return None
    try:
        return RecordedHead.parse(value)
    except LemurError:
        return None


@dataclass(frozen=True)
class ChainCheck:
    """The newest finished run of the daily verification: when, and what it found."""

    finished_at: dt.datetime
    ok: bool
    verified_seq: int | None  # ok: the event it verified the chain up to
    error: str | None  # not ok: why (the job's last error)


def last_chain_check(session: Session) -> ChainCheck | None:
    """The newest finished audit.verify_chain run (one indexed statement), or None when
    none has finished yet (or it is older than the jobs' retention)."""
    row = session.execute(
        select(JOBS.c.state, JOBS.c.finished_at, JOBS.c.args, JOBS.c.last_error)
        .where(
            JOBS.c.kind == VERIFY_CHAIN,
            JOBS.c.state.in_([JobState.SUCCEEDED.value, JobState.FAILED.value]),
        )
        .order_by(JOBS.c.id.desc())
        .limit(1)
    ).first()
    if row is None or row.finished_at is None:
        return None
    if row.state != JobState.SUCCEEDED.value:
        return ChainCheck(row.finished_at, False, None, row.last_error or "the check failed")
    head = json.loads(row.args or "{}").get("verified_head")
    seq = head.split(":", 1)[0] if isinstance(head, str) else ""
    return ChainCheck(row.finished_at, True, int(seq) if seq.isdigit() else None, None)


def verify_audit_chain(ctx: JobContext) -> None:
    """Walk the whole chain, and check that the head the previous run verified is still in
    it, unchanged (so a log truncated or rewritten with fresh hashes since then is caught
    too). Intact: the job succeeds, recording the head it verified in its args for the
    next run. Broken: an ``audit.chain_broken`` event (outcome failure) says where, and
    the job fails with the reason."""
    with ctx.container.db.read() as session:
        result = verify_chain(session)
        if any(p.kind == "truncated" for p in result.problems):
            # An event appended after the walk read the last one and before it read the
            # head row looks like a truncation; look once more before raising the alarm
            # (a real truncation is still there).
            result = verify_chain(session)
        problems: list[ChainProblem] = list(result.problems)
        previous = _last_verified_head(session)
        if previous is not None:
            moved = check_recorded_head(session, previous)
            if moved is not None:
                problems.append(moved)
    if not problems:
        with ctx.container.db.write() as session:
            args = {**ctx.args, "verified_head": f"{result.head_seq}:{result.head_hash}"}
            session.execute(
                update(JOBS)
                .where(JOBS.c.id == ctx.job_id)
                .values(args=json.dumps(args, separators=(",", ":"), sort_keys=True))
            )
            ctx.complete(session)
            session.commit()
        return
    first = problems[0]
    reason = (
        f"the audit chain is broken ({len(problems)} problem(s), {result.checked} event(s) "
        f"checked): event {first.seq}: {first.kind}: {first.message}"
    )
    try:
        with ctx.container.db.write() as session:
            AuditLog(session, ctx.container.clock).record(
                Actor(f"job:{VERIFY_CHAIN}"),
                CHAIN_BROKEN,
                target_type="audit_event",
                target_id=first.seq,
                outcome="failure",
                details={
                    "checked": result.checked,
                    "head_seq": result.head_seq,
                    "first_broken_seq": first.seq,
                    "problems": [
                        f"event {p.seq}: {p.kind}: {p.message}" for p in problems[:MAX_REPORTED]
                    ],
                    "problem_count": len(problems),
                    "job_id": ctx.job_id,
                },
            )
            session.commit()
    except LemurError as exc:
        # No head row: nothing can be appended. The failed job still says why.
        reason += f" (the event {CHAIN_BROKEN} could not be written: {exc.message})"
    raise PermanentJobError(reason)


KINDS = (
    JobKind(
        CLEANUP,
        cleanup,
        "delete expired sessions and tokens, stale login failures and old finished jobs",
        max_attempts=3,
    ),
    JobKind(
        CRL_REFRESH,
        crl_refresh,
        "re-publish CRLs in the second half of their validity",
        max_attempts=3,
        backoff_base=60.0,
    ),
    JobKind(
        VERIFY_CHAIN,
        verify_audit_chain,
        "verify the audit chain; record audit.chain_broken if it is broken",
        max_attempts=3,
    ),
)
