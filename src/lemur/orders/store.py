"""Writes of pending requests, and the check of what a remote CA sent back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from lemur.crypto.keys import public_keys_equal
from lemur.crypto.names import SubjectAltNames
from lemur.jobs.outbox import enqueue
from lemur.orders.models import CertificateRequest, RequestState
from lemur.orders.spec import csr_pem, dump_spec
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import IssuanceRequest, Issued, Pending

POLL = "request.poll"
# Polls of a CA that cannot be reached wait base * 2**(failures-1) seconds, at most the cap.
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
# A request the CA has not answered after this long is given up (failed, with the reason).
MAX_PENDING = dt.timedelta(days=7)


def poll_key(request_id: int, polls: int, failures: int) -> str:
    """One job per poll of a request: a rerun of the same poll finds its key taken. Never
    the same pair twice: ``polls`` only grows, and between two answers ``failures`` does."""
    return f"{POLL}:{request_id}:{polls}:{failures}"


def schedule_poll(
    session: Session, row: CertificateRequest, at: dt.datetime, now: dt.datetime
) -> None:
    row.next_poll_at = at
    enqueue(
        session,
        POLL,
        {"request_id": row.id},
        now=now,
        key=poll_key(row.id, row.polls, row.failures),
        run_after=at,
        max_attempts=1,
    )


def new_request(
    session: Session,
    *,
    authority_id: int,
    team_id: int,
    requested_by: str,
    pending: Pending,
    request: IssuanceRequest,
    private_key: str | None,
    replaces_id: int | None,
    now: dt.datetime,
    destinations: Sequence[int] = (),
) -> CertificateRequest:
    """The pending row and its first poll, in ``session``'s transaction."""
    assert request.csr is not None
    row = CertificateRequest(
        state=RequestState.PENDING.value,
        authority_id=authority_id,
        team_id=team_id,
        requested_by=requested_by[:255],
        external_id=pending.external_id[:2048],
        note=pending.note[:500],
        last_error=None,
        polls=0,
        failures=0,
        common_name=request.common_name[:255] if request.common_name else None,
        names=",".join(request.sans.all_names()),
        spec=dump_spec(request),
        csr=csr_pem(request.csr),
        private_key=private_key,
        replaces_id=replaces_id,
        destinations=json.dumps(list(destinations)),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    schedule_poll(session, row, now + pending.retry_after, now)
    return row


def pending_renewal(session: Session, certificate_id: int) -> int | None:
    """The id of a pending request renewing ``certificate_id``, if there is one."""
    return session.scalar(
        select(CertificateRequest.id).where(
            CertificateRequest.replaces_id == certificate_id,
            CertificateRequest.state == RequestState.PENDING.value,
        )
    )


def check_issued(issued: Issued, request: IssuanceRequest) -> None:
    """A remote CA's certificate must certify the requested key and carry exactly the
    requested names: anything else is refused, not stored. Raises PluginRejected."""
    cert = issued.certificate
    if not public_keys_equal(cert.public_key(), request.public_key):
        raise PluginRejected(
            "the CA returned a certificate for another key", code="issued_certificate_mismatch"
        )
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        got = SubjectAltNames.from_extension(ext)
    except x509.ExtensionNotFound:
        got = SubjectAltNames()
    wanted = request.sans
    if {n.lower() for n in got.all_names()} != {n.lower() for n in wanted.all_names()}:
        raise PluginRejected(
            "the CA returned a certificate for other names ("
            + (", ".join(got.all_names()) or "none")
            + ") than requested ("
            + ", ".join(wanted.all_names())
            + ")",
            code="issued_certificate_mismatch",
        )
