"""Requests at a CA that answers later: polled by the ``request.poll`` job until the
certificate is ready (then stored like any issued certificate), the order fails, or
someone cancels it.

Every change of a request is a conditional UPDATE of a pending row, so of a poll and a
cancel (or two polls after a runner lost its lease) exactly one finishes the request.
"""

from __future__ import annotations

import datetime as dt
import json
import random

from sqlalchemy import update
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.audit.service import AuditLog, DetailValue
from lemur.authorities.signing import IssuingAuthority, IssuingTeam
from lemur.authz import Action, authorize
from lemur.certificates.issuance import IssuanceOrder, IssuanceService
from lemur.certificates.models import CertificateRecord
from lemur.errors import Conflict, LemurError, NotFound
from lemur.orders.models import CertificateRequest, RequestState
from lemur.orders.records import RequestRecord
from lemur.orders.spec import load_spec
from lemur.orders.store import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    MAX_PENDING,
    check_issued,
    schedule_poll,
)
from lemur.plugins.base import Poller
from lemur.plugins.errors import PluginTransientError
from lemur.plugins.values import IssuanceRequest, Issued, Pending

_PENDING = RequestState.PENDING.value


def request_not_found(request_id: int) -> NotFound:
    return NotFound(
        f"no request with id {request_id}", code="request_not_found", field="request_id"
    )


def backoff(failures: int) -> dt.timedelta:
    """The wait before the next poll after ``failures`` failed polls in a row (jittered)."""
    base = min(BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_CAP_SECONDS)
    return dt.timedelta(seconds=base * random.uniform(0.5, 1.5))


class PendingService(IssuanceService):
    def _row(self, request_id: int) -> CertificateRequest:
        row = self._uow.read.get(CertificateRequest, request_id)
        if row is None:
            raise request_not_found(request_id)
        return row

    def _authority(self, row: CertificateRequest) -> IssuingAuthority:
        authority = self._authorities.get(self._uow.read, row.authority_id)
        assert authority is not None, "a request's authority is never deleted"
        return authority

    def _claim(
        self, session: Session, row: CertificateRequest, **values: object
    ) -> CertificateRequest | None:
        """Change the request if it is still pending: the row as changed, else None."""
        changed = session.execute(
            update(CertificateRequest)
            .where(CertificateRequest.id == row.id, CertificateRequest.state == _PENDING)
            .values(updated_at=self._clock.now(), **values)
            .returning(CertificateRequest)
        ).scalar_one_or_none()
        return changed

    def _view(self, row: CertificateRequest, authority: IssuingAuthority) -> RequestRecord:
        team = self._uow.read.get(Team, row.team_id)
        return RequestRecord.of(row, authority.name, team.name if team else "")

    # polling ---------------------------------------------------------------------------

    def poll(self, request_id: int) -> RequestRecord:
        """Ask the CA once: store the certificate when it is ready, schedule the next poll
        while it is pending (with backoff while the CA cannot be reached), fail the request
        with the CA's reason when the order failed. A finished request is left as it is."""
        row = self._row(request_id)
        authority = self._authority(row)
        if row.state != _PENDING:
            return self._view(row, authority)
        now = self._clock.now()
        if now - row.created_at > MAX_PENDING:
            return self._fail(row, authority, "the CA did not issue the certificate within 7 days")
        request = load_spec(row.spec, row.csr)
        try:
            with self._authorities.connected(authority) as issuer:
                if not isinstance(issuer, Poller):
                    return self._fail(
                        row, authority, f"the issuer plugin '{authority.plugin_slug}' cannot poll"
                    )
                result = issuer.poll(row.external_id, request)
            if isinstance(result, Issued):
                check_issued(result, request)
        except PluginTransientError as exc:
            return self._retry_later(row, authority, exc.message)
        except LemurError as exc:
            return self._fail(row, authority, exc.message)
        if isinstance(result, Pending):
            return self._still_pending(row, authority, result)
        return self._issued(row, authority, request, result)

    def _still_pending(
        self, row: CertificateRequest, authority: IssuingAuthority, pending: Pending
    ) -> RequestRecord:
        now = self._clock.now()
        with self._uow.write() as tx:
            changed = self._claim(
                tx.session,
                row,
                polls=row.polls + 1,
                failures=0,
                last_error=None,
                note=(pending.note or row.note)[:500],
                external_id=pending.external_id[:2048],
            )
            if changed is not None:
                schedule_poll(tx.session, changed, now + pending.retry_after, now)
        return self._view(changed or row, authority)

    def _retry_later(
        self, row: CertificateRequest, authority: IssuingAuthority, error: str
    ) -> RequestRecord:
        now = self._clock.now()
        failures = row.failures + 1
        with self._uow.write() as tx:
            changed = self._claim(
                tx.session, row, failures=failures, last_error=f"will retry: {error}"[:2000]
            )
            if changed is not None:
                schedule_poll(tx.session, changed, now + backoff(failures), now)
        return self._view(changed or row, authority)

    def _fail(
        self, row: CertificateRequest, authority: IssuingAuthority, error: str
    ) -> RequestRecord:
        return self._finish(row, authority, RequestState.FAILED, "request.fail", error)

    def _finish(
        self,
        row: CertificateRequest,
        authority: IssuingAuthority,
        state: RequestState,
        action: str,
        error: str | None,
    ) -> RequestRecord:
        now = self._clock.now()
        with self._uow.write() as tx:
            changed = self._claim(
                tx.session,
                row,
                state=state.value,
                last_error=error[:2000] if error else row.last_error,
                finished_at=now,
                next_poll_at=None,
                private_key=None,  # a key for a certificate that will never exist
            )
            if changed is None:
                raise Conflict(
                    f"request {row.id} is no longer pending",
                    code="request_finished",
                    field="request_id",
                )
            details: dict[str, DetailValue] = {
                "authority": authority.name,
                "team_id": row.team_id,
                "names": row.names.split(",") if row.names else [],
                "requested_by": row.requested_by,
            }
            if error:
                details["error"] = error[:500]
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                action,
                target_type="request",
                target_id=row.id,
                details=details,
            )
        return self._view(changed, authority)

    def _issued(
        self,
        row: CertificateRequest,
        authority: IssuingAuthority,
        request: IssuanceRequest,
        issued: Issued,
    ) -> RequestRecord:
        team = self._uow.read.get(Team, row.team_id)
        replaces = self._store.get(self._uow.read, row.replaces_id) if row.replaces_id else None
        order = IssuanceOrder(
            team=IssuingTeam(row.team_id, team.name if team else ""),
            authority=authority,
            common_name=request.common_name,
            sans=request.sans,
            profile=request.profile,
            key_spec=request.key_spec,
            public_key=request.public_key,
            private_key=(
                self._store.decrypt_private_key(row.private_key) if row.private_key else None
            ),
            validity_days=None,
            replaces=replaces,
            subject=request.subject,
            key_usage=request.key_usage,
            extended_key_usage=request.extended_key_usage,
            csr=request.csr,
            destinations=tuple(int(d) for d in json.loads(row.destinations or "[]")),
        )
        now = self._clock.now()

        def link(session: Session, certificate: CertificateRecord) -> None:
            changed = self._claim(
                session,
                row,
                state=RequestState.ISSUED.value,
                certificate_id=certificate.id,
                polls=row.polls + 1,
                note="issued",
                last_error=None,
                finished_at=now,
                next_poll_at=None,
                private_key=None,  # now kept with the certificate
            )
            if changed is None:
                raise Conflict(
                    f"request {row.id} is no longer pending",
                    code="request_finished",
                    field="request_id",
                )

        action = "certificate.renew" if replaces is not None else "certificate.issue"
        details: dict[str, DetailValue] = {"request": row.id, "requested_by": row.requested_by}
        if replaces is not None:
            details["replaces"] = replaces.id
        self._write_issued(order, issued, action, details, also=link)
        self._uow.read.expire(row)
        return self._view(self._row(row.id), authority)

    # cancelling ------------------------------------------------------------------------

    def cancel(self, request_id: int) -> RequestRecord:
        """Give the order up at the CA (where it can be) and in Lemur. Raises NotFound,
        PermissionDenied, Conflict(request_finished)."""
        row = self._row(request_id)
        authorize(self._actor, Action.CERTIFICATE_READ, team_id=row.team_id)
        authorize(self._actor, Action.CERTIFICATE_ISSUE, team_id=row.team_id)
        authority = self._authority(row)
        if row.state != _PENDING:
            raise Conflict(
                f"request {row.id} is {row.state} already; only a pending request can be cancelled",
                code="request_finished",
                field="request_id",
            )
        note = None
        try:
            with self._authorities.connected(authority) as issuer:
                if isinstance(issuer, Poller):
                    issuer.cancel(row.external_id)
        except LemurError as exc:
            # Lemur stops waiting either way; the CA's order lapses on its own.
            note = f"the CA could not be told: {exc.message}"
        return self._finish(row, authority, RequestState.CANCELLED, "request.cancel", note)
