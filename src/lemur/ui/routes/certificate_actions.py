"""Revoke a certificate (a confirmation page with the reason, then the revocation) and
renew it (validity, and a CSR for a certificate issued from one), through the same
services and request models as the API."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action
from lemur.certificates.schemas import RenewRequest, RevokeRequest, material
from lemur.crypto.revocation import RevocationReason
from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.orders.records import RequestRecord
from lemur.ui.pages import FORM, FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()

# RFC 5280 §5.3.1 reasons in plain words. removeFromCRL is not a reason to revoke.
REASONS = {
    RevocationReason.UNSPECIFIED: ("Unspecified", "No particular reason, or none of the others."),
    RevocationReason.KEY_COMPROMISE: (
        "Key compromise",
        "The private key was exposed, or may have been (leaked, copied, on a lost device). "
        "Replace the certificate with one on a new key.",
    ),
    RevocationReason.SUPERSEDED: (
        "Superseded",
        "A new certificate replaces this one (for example after a renewal or a change of "
        "names); nothing was compromised.",
    ),
    RevocationReason.CESSATION_OF_OPERATION: (
        "Cessation of operation",
        "The service is gone or no longer uses it.",
    ),
    RevocationReason.AFFILIATION_CHANGED: (
        "Affiliation changed",
        "The name or organisation in it changed (for example the domain was sold or the team "
        "moved).",
    ),
    RevocationReason.PRIVILEGE_WITHDRAWN: (
        "Privilege withdrawn",
        "Whoever holds it may no longer use it (for example after a policy violation).",
    ),
    RevocationReason.CA_COMPROMISE: ("CA compromise", "The issuing CA's key was compromised."),
    RevocationReason.AA_COMPROMISE: (
        "AA compromise",
        "An attribute authority was compromised (attribute certificates only; rarely applies).",
    ),
    RevocationReason.CERTIFICATE_HOLD: (
        "Certificate hold",
        "Suspend it for now. Lemur cannot lift a hold: treat it as final.",
    ),
}
# Renewal errors name the service's parameters; the page has these two inputs.
_RENEW_FIELDS = {
    "validity_days": "validity_days",
    "not_before": "validity_days",
    "not_after": "validity_days",
    "csr": "csr",
}


def _reason_options() -> list[tuple[str, str]]:
    return [(r.value, label) for r, (label, _meaning) in REASONS.items()]


def _revoke_page(
    visit: Visit,
    certificate_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    with visit.services() as services:
        preview = services.revocation().preview(certificate_id)
    cert = preview.certificate
    return visit.render(
        "certificates/revoke.html",
        status=status,
        cert=cert,
        title=cert.common_name or f"Certificate {cert.id}",
        scope=preview.scope,
        scope_note=preview.scope.note(cert.authority_name),
        reasons=REASONS,
        reason_options=_reason_options(),
        errors=errors or FormErrors(),
        values=values or {},
    )


@router.get("/certificates/{certificate_id:int}/revoke", response_class=HTMLResponse)
def revoke_form(visit: SignedIn, certificate_id: PathId) -> Response:
    return _revoke_page(visit, certificate_id)


@router.post("/certificates/{certificate_id:int}/revoke", response_class=HTMLResponse)
def revoke(visit: SignedIn, certificate_id: PathId, form: Posted) -> Response:
    def work() -> Response:
        try:
            body = parse(RevokeRequest, form)
            with visit.services() as services:
                services.revocation().revoke(certificate_id, reason=body.reason)
        except FormInvalid as exc:
            return _revoke_page(
                visit, certificate_id, status=422, errors=exc.errors, values=form.values
            )
        except LemurError as exc:
            if exc.status in (403, 404):
                raise
            errors = FormErrors({"reason" if exc.field == "reason" else FORM: exc.message})
            return _revoke_page(
                visit, certificate_id, status=exc.status, errors=errors, values=form.values
            )
        return visit.redirect(
            f"/certificates/{certificate_id}", notice=f"Certificate {certificate_id} was revoked."
        )

    return visit.once(form, work)


def _renew_page(
    visit: Visit,
    certificate_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    with visit.services() as services:
        cert = services.certificates().get(certificate_id, Action.CERTIFICATE_ISSUE)
    return visit.render(
        "certificates/renew.html",
        status=status,
        cert=cert,
        title=cert.common_name or f"Certificate {cert.id}",
        names=[n.name for n in cert.names if n.kind != "cn"] or [cert.common_name],
        lifetime_days=(cert.not_after - cert.not_before).days,
        errors=errors or FormErrors(),
        values=values or {},
    )


@router.get("/certificates/{certificate_id:int}/renew", response_class=HTMLResponse)
def renew_form(visit: SignedIn, certificate_id: PathId) -> Response:
    return _renew_page(visit, certificate_id)


@router.post("/certificates/{certificate_id:int}/renew", response_class=HTMLResponse)
def renew(visit: SignedIn, certificate_id: PathId, form: Posted) -> Response:
    def work() -> Response:
        try:
            body = parse(RenewRequest, form)
            with visit.services() as services:
                renewed = services.issuance().renew(
                    certificate_id,
                    validity_days=body.validity_days,
                    csr=material(body.csr, field="csr"),
                )
        except FormInvalid as exc:
            return _renew_page(
                visit, certificate_id, status=422, errors=exc.errors, values=form.values
            )
        except LemurError as exc:
            if exc.status in (403, 404):
                raise
            field = _RENEW_FIELDS.get(exc.field or "", FORM)
            if exc.field == "public_key" and form.get("csr").strip():
                field = "csr"
            errors = FormErrors({field: exc.message})
            return _renew_page(
                visit, certificate_id, status=exc.status, errors=errors, values=form.values
            )
        if isinstance(renewed, RequestRecord):
            return visit.redirect(
                f"/requests/{renewed.id}",
                notice=f"The renewal of certificate {certificate_id} is pending at the CA of "
                f"{renewed.authority_name}: this page follows it.",
            )
        new = renewed.certificate
        return visit.redirect(
            f"/certificates/{new.id}",
            notice=f"Certificate {certificate_id} was renewed: this is its successor, "
            f"certificate {new.id} ({title_of_record(new.common_name, new.id)}).",
        )

    return visit.once(form, work)


def title_of_record(common_name: str | None, certificate_id: int) -> str:
    return common_name or f"certificate {certificate_id}"
