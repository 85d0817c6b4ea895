"""Import a certificate: paste PEM (certificate, chain, key) or upload a file (PEM, DER,
PKCS#12) with its passphrase. The API's request model (CertificateImport) and import
service: an uploaded binary file goes into the model's field base64-encoded, as API
clients send it."""

from __future__ import annotations

import base64

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action
from lemur.certificates.imports import CertificateHeld, ImportedCertificate
from lemur.certificates.queries import filter_choices
from lemur.certificates.schemas import CertificateImport, material
from lemur.errors import LemurError, PermissionDenied
from lemur.ui.pages import (
    FORM,
    Form,
    FormErrors,
    FormInvalid,
    Posted,
    SignedIn,
    Visit,
    parse,
)

router = APIRouter()
# The file inputs and the model's field each fills.
UPLOADS = {"certificate_file": "certificate", "private_key_file": "private_key"}


def _teams(visit: Visit) -> list[tuple[int, str]]:
    """The teams the visitor may import for."""
    if not visit.may(Action.CERTIFICATE_IMPORT):
        raise PermissionDenied(
            f"your role ({visit.principal.role.value}) may not import certificates"
        )
    with visit.services() as services:
        teams = filter_choices(services.uow.read, visit.principal).teams
    return [(i, n) for i, n in teams if visit.may(Action.CERTIFICATE_IMPORT, team_id=i)]


def _page(
    visit: Visit,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    existing_id: int | None = None,
) -> HTMLResponse:
    teams = _teams(visit)
    shown = dict(values or {})
    if "team_id" not in shown and len(teams) == 1:
        shown["team_id"] = str(teams[0][0])
    return visit.render(
        "certificates/import.html",
        status=status,
        teams=teams,
        errors=errors or FormErrors(),
        values=shown,
        existing_id=existing_id,
    )


def _uploaded(form: Form) -> dict[str, str]:
    """The uploaded files as the model's fields: PEM as text, anything else base64.
    Raises FormInvalid when a field is both pasted and uploaded."""
    extra: dict[str, str] = {}
    for upload, field in UPLOADS.items():
        data = form.files.get(upload)
        if not data:
            continue
        if form.get(field).strip():
            raise FormInvalid(FormErrors({upload: "Paste the text or upload a file, not both."}))
        text = form.file_text(upload)
        extra[field] = text if text and "-----BEGIN" in text else base64.b64encode(data).decode()
    return extra


def _on_inputs(errors: FormErrors, uploaded: dict[str, str]) -> FormErrors:
    """Errors about a field that came from a file, next to the file's input."""
    inputs = {field: upload for upload, field in UPLOADS.items() if field in uploaded}
    return FormErrors({inputs.get(k, k): v for k, v in errors.items()})


@router.get("/certificates/import", response_class=HTMLResponse)
def import_form(visit: SignedIn) -> Response:
    return _page(visit)


@router.post("/certificates/import", response_class=HTMLResponse)
def import_certificate(visit: SignedIn, form: Posted) -> Response:
    # Pasted PEM is put back into the form on an error; a passphrase never is.
    values = {k: v for k, v in form.values.items() if k != "passphrase"}

    def work() -> Response:
        uploaded: dict[str, str] = {}
        try:
            uploaded = _uploaded(form)
            body = parse(CertificateImport, form, extra=uploaded)
            with visit.services() as services:
                imported = services.imports().import_(
                    ImportedCertificate(
                        team_id=body.team_id,
                        certificate=material(body.certificate, field="certificate") or b"",
                        chain=material(body.chain, field="chain"),
                        private_key=material(body.private_key, field="private_key"),
                        passphrase=(
                            body.passphrase.get_secret_value().encode() if body.passphrase else None
                        ),
                    )
                )
        except FormInvalid as exc:
            errors = exc.errors
            if errors.get("certificate") == "This is required.":
                errors["certificate"] = "Paste a certificate or upload a file."
            return _page(visit, status=422, errors=_on_inputs(errors, uploaded), values=values)
        except CertificateHeld as exc:
            return _page(
                visit,
                status=exc.status,
                errors=FormErrors({FORM: exc.message}),
                values=values,
                existing_id=exc.existing_id,
            )
        except LemurError as exc:
            if exc.status == 403:
                raise
            errors = _on_inputs(FormErrors.of_error(exc), uploaded)
            return _page(visit, status=exc.status, errors=errors, values=values)
        cert = imported.certificate
        name = cert.common_name or f"certificate {cert.id}"
        return visit.redirect(f"/certificates/{cert.id}", notice=f"{name} was imported.")

    return visit.once(form, work)
