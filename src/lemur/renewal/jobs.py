"""The renewal jobs: ``renewal.pass`` (hourly) and ``renewal.renew`` (one certificate).

The pass reads the certificates inside their renewal window in batches (a constant number
of statements per batch) and, in each batch's one transaction:

- enqueues one ``renewal.renew`` job per certificate Lemur renews itself, keyed
  ``renewal.renew:<id>``: a certificate found again by the next pass (its job still
  pending, retrying, or failed for good) gets no second job;
- marks the others ``renewal_manual_at`` with a conditional UPDATE (only rows not marked
  yet) and writes ``certificate.renewal_manual`` for exactly the rows it marked: the
  owners hear once per certificate, even from two passes at once.

The renew job renews through the issuance service as ``job:renewal.renew``. One successor
per certificate is the database's guarantee: the successor's insert and the compare-and-set
"replaced by" link commit together (CertificateStore.insert), so of two runs only one links
in; the other, and a rerun after a worker died once the successor was committed, sees
``already_replaced`` and succeeds without doing anything.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from lemur.audit.service import Actor, AuditLog, DetailValue
from lemur.authz import system_principal
from lemur.certificates.models import Certificate
from lemur.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lemur.jobs.outbox import enqueue_many
from lemur.jobs.registry import JobContext, JobKind, PermanentJobError
from lemur.renewal.selection import Candidate, decision_for, due, largest_window

PASS = "renewal.pass"
RENEW = "renewal.renew"
BATCH = 500
RENEW_MAX_ATTEMPTS = 5
FAILED_ACTION = "certificate.renewal_failed"
MANUAL_ACTION = "certificate.renewal_manual"

_C: Table = Certificate.__table__  # type: ignore[assignment]
_MARK_MANUAL = (
    update(_C)
    .where(_C.c.id.in_(bindparam("ids", expanding=True)), _C.c.renewal_manual_at.is_(None))
    .values(renewal_manual_at=bindparam("at"))
    .returning(_C.c.id)
)


def renew_key(certificate_id: int) -> str:
    """The idempotency key of a certificate's renewal job: one job per certificate."""
    return f"{RENEW}:{certificate_id}"


def _process(session: Session, ctx: JobContext, batch: list[Candidate]) -> tuple[int, int]:
    """One batch's effects, in ``session``'s transaction: (jobs offered, notices written)."""
    now = ctx.now
    auto = [c for c in batch if c.decision.renews]
    enqueue_many(
        session,
        RENEW,
        [({"certificate_id": c.id}, renew_key(c.id)) for c in auto],
        now=now,
        max_attempts=RENEW_MAX_ATTEMPTS,
    )
    manual = {c.id: c for c in batch if not c.decision.renews and not c.notified}
    if not manual:
        return len(auto), 0
    marked = session.execute(_MARK_MANUAL, {"ids": list(manual), "at": now}).scalars().all()
    if not marked:
        return len(auto), 0
    log = AuditLog(session, ctx.container.clock)
    events: list[tuple[str | None, str | int | None, dict[str, DetailValue]]] = []
    for certificate_id in sorted(marked):
        c = manual[certificate_id]
        reason = c.decision.manual_reason
        events.append(
            (
                "certificate",
                certificate_id,
                {
                    "reason": reason.value if reason else None,
                    "team": c.team_name,
                    "authority": c.authority_name,
                    "not_after": c.not_after.isoformat(),
                },
            )
        )
    log.append_many(log.lock_head(), system_principal(PASS).audit_actor, MANUAL_ACTION, events)
    return len(auto), len(marked)


def run_pass(ctx: JobContext) -> None:
    """Offer every certificate inside its renewal window to renewal or to its owners."""
    db = ctx.container.db
    now = ctx.now
    with db.read() as session:
        horizon = largest_window(session)
    after: tuple[dt.datetime, int] | None = None
    offered = notices = 0
    while True:
        with db.write() as session:
            batch = due(session, now=now, horizon=horizon, after=after, limit=BATCH)
            jobs, written = _process(session, ctx, batch)
            offered += jobs
            notices += written
            last = len(batch) < BATCH
            if last:
                ctx.complete(session)
            session.commit()
        if last:
            break
        after = (batch[-1].not_after, batch[-1].id)
    ctx.logger.info("renewal pass: %d to renew, %d owners told to renew", offered, notices)


def _record_failure(ctx: JobContext, certificate_id: int, error: str, *, final: bool) -> None:
    """``certificate.renewal_failed`` in its own short transaction (the failed attempt's
    own writes rolled back)."""
    with ctx.container.db.write() as session:
        AuditLog(session, ctx.container.clock).record(
            Actor(f"job:{ctx.kind}"),
            FAILED_ACTION,
            target_type="certificate",
            target_id=certificate_id,
            outcome="failure",
            details={
                "error": error[:500],
                "attempt": ctx.attempt,
                "max_attempts": ctx.max_attempts,
                "final": final,
            },
        )
        session.commit()


def run_renew(ctx: JobContext) -> None:
    """Renew one certificate (new key, same names, team, profile, key type, authority)."""
    certificate_id = ctx.args.get("certificate_id")
    if not isinstance(certificate_id, int) or isinstance(certificate_id, bool):
        raise PermanentJobError("renewal.renew: certificate_id must be an integer")
    with ctx.container.db.read() as session:
        current = decision_for(session, certificate_id)
    if current is None or not current.decision.renews:
        # Replaced (by this job's earlier run, or by hand), revoked, or no longer renewed
        # automatically (the next pass tells the owners): nothing left to do.
        ctx.logger.info("certificate %d needs no automatic renewal now", certificate_id)
        return
    try:
        with ctx.services() as services:
            services.issuance().renew(certificate_id)
    except Conflict as exc:
        # Renewed meanwhile, or a renewal is pending at a CA that answers later (its
        # request's poll finishes it).
        if exc.code in ("already_replaced", "renewal_pending"):
            return
        # The authority is deactivated (authority_inactive), ...: the code says which.
        _record_failure(ctx, certificate_id, f"{exc.code}: {exc}", final=True)
        raise PermanentJobError(f"{exc.code}: {exc}") from exc
    except (InvalidInput, NotFound, PermissionDenied) as exc:
        # The authority has expired, the names are no longer allowed, ...: retrying
        # cannot help; the owners hear of it and renew by hand.
        _record_failure(ctx, certificate_id, f"{exc.code}: {exc}", final=True)
        raise PermanentJobError(f"{exc.code}: {exc}") from exc
    except Exception as exc:
        _record_failure(ctx, certificate_id, f"{type(exc).__name__}: {exc}", final=ctx.last_attempt)
        raise


KINDS = (
    JobKind(
        PASS,
        run_pass,
        "finds certificates inside their renewal window: renews them or tells their owners",
        max_attempts=3,
        backoff_base=60.0,
    ),
    JobKind(
        RENEW,
        run_renew,
        "renews one certificate (new key, same names, team, profile and authority)",
        max_attempts=RENEW_MAX_ATTEMPTS,
        backoff_base=60.0,
    ),
)
