"""Setting renewal policies (authority, team, certificate) and previewing the next pass.

Each change is one write transaction with its audit event (``<target>.renewal_policy``).
The preview runs the pass's own selection (lemur.renewal.selection) without writing, so
what it shows is what the pass would do at that moment.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update

from lemur.accounts.models import Role, Team
from lemur.audit.service import AuditLog
from lemur.authorities.models import Authority
from lemur.authz import Action, authorize
from lemur.certificates.models import Certificate
from lemur.certificates.service import CertificateService
from lemur.errors import InvalidInput, NotFound
from lemur.jobs.models import JOBS
from lemur.renewal.choices import RenewalPolicy
from lemur.renewal.jobs import renew_key
from lemur.renewal.policy import check_days, check_policy
from lemur.renewal.selection import Candidate, decision_for, due, largest_window, names_of


@dataclass(frozen=True)
class PolicySetting:
    """What one level says (None: inherit)."""

    renewal_policy: str | None
    renew_before_days: int | None


@dataclass(frozen=True)
class PreviewItem:
    candidate: Candidate
    names: list[str]
    job_state: str | None  # the renewal job's state, when one exists


@dataclass(frozen=True)
class PreviewPage:
    items: list[PreviewItem]
    next_cursor: str | None
    at: dt.datetime


def _cursor(c: Candidate) -> str:
    raw = f"{c.not_after.isoformat()}|{c.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(cursor: str | None) -> tuple[dt.datetime, int] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        at = dt.datetime.fromisoformat(when)
        if at.tzinfo is None or not ident.isascii() or not ident.isdigit():
            raise ValueError(raw)
        return at, int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not one this API returned", code="invalid_cursor", field="cursor"
        ) from None


class RenewalService(CertificateService):
    # -- policies ---------------------------------------------------------------------

    def set_authority_policy(
        self, authority_id: int, policy: str | None, renew_before_days: int | None
    ) -> PolicySetting:
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        chosen = check_policy(policy, field="renewal_policy", required=True)
        days = check_days(renew_before_days, field="renew_before_days")
        if self._uow.read.get(Authority, authority_id) is None:
            raise NotFound(
                f"no authority with id {authority_id}",
                code="authority_not_found",
                field="authority_id",
            )
        return self._write(Authority, "authority", authority_id, chosen, days)

    def set_team_policy(
        self, team_id: int, policy: str | None, renew_before_days: int | None
    ) -> PolicySetting:
        authorize(self._actor, Action.TEAM_MANAGE)
        chosen = check_policy(policy, field="renewal_policy")
        days = check_days(renew_before_days, field="renew_before_days")
        if self._uow.read.get(Team, team_id) is None:
            raise NotFound(f"no team with id {team_id}", code="team_not_found", field="team_id")
        return self._write(Team, "team", team_id, chosen, days)

    def set_certificate_policy(
        self, certificate_id: int, policy: str | None, renew_before_days: int | None
    ) -> PolicySetting:
        chosen = check_policy(policy, field="renewal_policy")
        days = check_days(renew_before_days, field="renew_before_days")
        self.get(certificate_id, Action.CERTIFICATE_ISSUE)
        return self._write(Certificate, "certificate", certificate_id, chosen, days)

    def _write(
        self,
        model: type[Authority] | type[Team] | type[Certificate],
        target: str,
        target_id: int,
        policy: RenewalPolicy | None,
        days: int | None,
    ) -> PolicySetting:
        table = cast(Table, model.__table__)
        value = policy.value if policy else None
        with self._uow.write() as tx:
            tx.session.execute(
                update(table)
                .where(table.c.id == target_id)
                .values(renewal_policy=value, renew_before_days=days)
            )
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                f"{target}.renewal_policy",
                target_type=target,
                target_id=target_id,
                details={"renewal_policy": value, "renew_before_days": days},
            )
        return PolicySetting(value, days)

    def effective(self, certificate_id: int) -> Candidate | None:
        """The policy's decision for a certificate the actor may read (None: the pass does
        not look at it: replaced, revoked, a CA's or without a team)."""
        self.get(certificate_id)
        return decision_for(self._uow.read, certificate_id)

    # -- preview ----------------------------------------------------------------------

    def preview(self, *, limit: int, cursor: str | None) -> PreviewPage:
        """What the pass would do now, a page at a time (by expiry): renew, or tell the
        owners (with the reason). Members see their teams' certificates."""
        authorize(self._actor, Action.CERTIFICATE_READ)
        read = self._uow.read
        now = self._clock.now()
        team_ids = self._actor.team_ids if self._actor.role is Role.MEMBER else None
        found = due(
            read,
            now=now,
            horizon=largest_window(read),
            after=_parse_cursor(cursor),
            limit=limit + 1,
            team_ids=team_ids,
        )
        page, more = found[:limit], len(found) > limit
        names = names_of(read, [c.id for c in page])
        keys = {renew_key(c.id): c.id for c in page if c.decision.renews}
        states: dict[int, str] = {}
        if keys:
            for key, state in read.execute(
                select(JOBS.c.unique_key, JOBS.c.state).where(JOBS.c.unique_key.in_(list(keys)))
            ):
                states[keys[key]] = state
        return PreviewPage(
            items=[PreviewItem(c, names.get(c.id, []), states.get(c.id)) for c in page],
            next_cursor=_cursor(page[-1]) if more and page else None,
            at=now,
        )

    # -- running the pass now -----------------------------------------------------------

    def run_pass_now(self) -> int | None:
        """Enqueue a renewal pass to run at once (staff); at most one such request per
        minute is queued. The job id, or None when one was queued this minute already."""
        from lemur.jobs.outbox import enqueue
        from lemur.renewal.jobs import PASS

        authorize(self._actor, Action.JOB_MANAGE)
        now = self._clock.now()
        with self._uow.write() as tx:
            job_id = enqueue(
                tx.session,
                PASS,
                {"requested": now.isoformat()},
                now=now,
                key=f"{PASS}:requested:{now:%Y-%m-%dT%H:%M}",
                max_attempts=3,
            )
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "renewal.run",
                target_type="job",
                target_id=job_id,
                details={"kind": PASS, "queued": job_id is not None},
            )
        return job_id
