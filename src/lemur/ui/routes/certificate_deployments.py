"""A certificate's deployments from its page: deploy again, add a destination, remove one
(each a small form posting here, through the same DeploymentService as
/api/v1/certificates/{id}/deployments), and its blast radius: every destination and
endpoint that depends on it.

A visitor without ``certificate.deploy`` on the certificate's team sees no such form, and is
refused (403) if they post anyway: the service checks.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.ui.certificate_views import detail_page
from lemur.ui.pages import Posted, SignedIn, Visit

router = APIRouter()


def _queued(names: list[str]) -> str:
    return (
        "Deployment queued to "
        + ", ".join(names[:5])
        + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        + ": the states below follow it (reload the page)."
    )


def _refused(visit: Visit, certificate_id: int, exc: LemurError) -> Response:
    if exc.status in (403, 404) and exc.field in (None, "certificate_id"):
        raise exc
    return detail_page(visit, certificate_id, status=exc.status, deploy_error=exc.message)


@router.post("/certificates/{certificate_id:int}/deploy", response_class=HTMLResponse)
def deploy_again(visit: SignedIn, form: Posted, certificate_id: PathId) -> Response:
    """Deploy the certificate again to every destination it is attached to."""

    def work() -> Response:
        try:
            with visit.services() as services:
                done = services.deployments().redeploy(certificate_id)
        except LemurError as exc:
            return _refused(visit, certificate_id, exc)
        return visit.redirect(
            f"/certificates/{certificate_id}",
            notice=_queued([d.destination_name for d in done if d.state == "pending"]),
        )

    return visit.once(form, work)


@router.post("/certificates/{certificate_id:int}/destinations", response_class=HTMLResponse)
def add_destination(visit: SignedIn, form: Posted, certificate_id: PathId) -> Response:
    def work() -> Response:
        chosen = form.get("destination_id").strip()
        try:
            with visit.services() as services:
                if not chosen.isdigit():
                    services.certificates().get(certificate_id)  # 404 before "choose one"
                    return detail_page(
                        visit, certificate_id, status=422, deploy_error="Choose a destination."
                    )
                done = services.deployments().add(certificate_id, [int(chosen)])
        except LemurError as exc:
            return _refused(visit, certificate_id, exc)
        names = [d.destination_name for d in done if d.destination_id == int(chosen)]
        return visit.redirect(f"/certificates/{certificate_id}", notice=_queued(names))

    return visit.once(form, work)


@router.post(
    "/certificates/{certificate_id:int}/destinations/{destination_id:int}/remove",
    response_class=HTMLResponse,
)
def remove_destination(
    visit: SignedIn, form: Posted, certificate_id: PathId, destination_id: PathId
) -> Response:
    def work() -> Response:
        try:
            with visit.services() as services:
                done = services.deployments().remove(certificate_id, destination_id)
        except LemurError as exc:
            return _refused(visit, certificate_id, exc)
        name = next(
            (d.destination_name for d in done if d.destination_id == destination_id),
            f"destination {destination_id}",
        )
        return visit.redirect(
            f"/certificates/{certificate_id}",
            notice=f"The certificate was removed from {name}; Lemur takes it off there.",
        )

    return visit.once(form, work)


@router.get("/certificates/{certificate_id:int}/blast-radius", response_class=HTMLResponse)
def blast_radius(visit: SignedIn, certificate_id: PathId) -> Response:
    """What breaks if this certificate is wrong or revoked: every destination it is
    attached to, with the endpoints serving it there."""
    with visit.services() as services:
        cert = services.certificates().get(certificate_id)
        radius = services.deployments().blast_radius_of_certificate(certificate_id)
    return visit.render(
        "certificates/blast_radius.html",
        cert=cert,
        title=cert.common_name or f"Certificate {cert.id}",
        radius=radius,
    )
