"""Editing a certificate's settings (team, description, notifications) and archiving it:
``/certificates/{id}/edit`` (GET, POST), ``/certificates/{id}/archive`` and
``/certificates/{id}/unarchive`` (POST, back to ``/certificates/{id}`` with a notice).

The form is parsed into the API's own request model (``CertificateUpdate``) and handed to
the same service as ``PATCH /api/v1/certificates/{id}``, so both accept and refuse the same.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.accounts.models import Team
from lemur.authz import Action
from lemur.certificates.editing import MAX_DESCRIPTION, CertificateChanges
from lemur.certificates.schemas import CertificateUpdate
from lemur.certificates.service import CertificateView
from lemur.errors import Conflict, LemurError
from lemur.ids import PathId
from lemur.ui.api import Posted, SignedIn
from lemur.ui.forms import Form, FormErrors, FormInvalid, parse
from lemur.ui.visit import Visit

router = APIRouter()
TEMPLATE = "certificates/edit.html"


def _movable_teams(visit: Visit, view: CertificateView) -> list[Team]:
    """The teams the user may move this certificate to (its own team included)."""
    with visit.services() as services:
        teams = services.accounts().list_teams()
    current = view.certificate.team_id
    return sorted(
        (t for t in teams if t.id == current or visit.may(Action.CERTIFICATE_UPDATE, team_id=t.id)),
        key=lambda t: t.name,
    )


def _editable(visit: Visit, certificate_id: int) -> CertificateView:
    """The certificate if the user may edit it (else the service's 404 or 403 page)."""
    with visit.services() as services:
        services.certificates().get(certificate_id, Action.CERTIFICATE_UPDATE)
        return services.certificates().view(certificate_id)


def _page(
    visit: Visit,
    view: CertificateView,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    cert = view.certificate
    shown = values or {
        "team_id": str(cert.team_id or ""),
        "description": cert.description or "",
        "notify": "true" if view.mute is None else "false",
    }
    return visit.render(
        TEMPLATE,
        status=status,
        cert=cert,
        view=view,
        team_options=[(t.id, t.name) for t in _movable_teams(visit, view)],
        errors=errors or FormErrors(),
        values=shown,
        max_description=MAX_DESCRIPTION,
        may_archive=visit.may(Action.CERTIFICATE_ARCHIVE, team_id=cert.team_id or -1),
    )


def _changes(form: Form) -> CertificateChanges:
    """The edit the form asks for. Browsers send a textarea's line breaks as CRLF: LF is the
    stored convention (lemur.text), so they are turned into LF first; an empty description
    removes it."""
    description = form.get("description").replace("\r\n", "\n").strip()
    update = parse(CertificateUpdate, form, extra={"description": description})
    return update.changes()


@router.get("/certificates/{certificate_id}/edit", response_class=HTMLResponse)
def edit_form(certificate_id: PathId, visit: SignedIn) -> Response:
    return _page(visit, _editable(visit, certificate_id))


@router.post("/certificates/{certificate_id}/edit", response_class=HTMLResponse)
def edit(certificate_id: PathId, visit: SignedIn, form: Posted) -> Response:
    view = _editable(visit, certificate_id)

    def work() -> Response:
        try:
            changes = _changes(form)
            with visit.services() as services:
                services.editing().update(certificate_id, changes)
        except FormInvalid as exc:
            return _page(visit, view, status=422, errors=exc.errors, values=form.values)
        except LemurError as exc:
            errors = FormErrors.of_error(exc)
            return _page(visit, view, status=exc.status, errors=errors, values=form.values)
        return visit.redirect(f"/certificates/{certificate_id}", notice="Certificate saved.")

    return visit.once(form, work)


def _archive_action(visit: Visit, form: Form, certificate_id: int, *, archive: bool) -> Response:
    def work() -> Response:
        with visit.services() as services:
            editing = services.editing()
            try:
                if archive:
                    editing.archive(certificate_id)
                else:
                    editing.unarchive(certificate_id)
            except Conflict as exc:
                # Archived (or brought back) meanwhile, in another tab: say so where it shows.
                return visit.redirect(f"/certificates/{certificate_id}", notice=exc.message)
        notice = (
            "Certificate archived: it is left out of lists, renewal and expiry notices."
            if archive
            else "Certificate brought back from the archive."
        )
        return visit.redirect(f"/certificates/{certificate_id}", notice=notice)

    return visit.once(form, work)


@router.post("/certificates/{certificate_id}/archive")
def archive(certificate_id: PathId, visit: SignedIn, form: Posted) -> Response:
    return _archive_action(visit, form, certificate_id, archive=True)


@router.post("/certificates/{certificate_id}/unarchive")
def unarchive(certificate_id: PathId, visit: SignedIn, form: Posted) -> Response:
    return _archive_action(visit, form, certificate_id, archive=False)
