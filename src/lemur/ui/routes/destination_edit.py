"""Changing a destination: its name, description, team and options (/destinations/{id}/edit;
a secret left empty keeps its stored value, new options are checked by connecting before
they are stored), and adding or removing one endpoint from its page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.deployments.schemas import DestinationUpdate
from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.ui.destination_views import (
    destination_options,
    detail_page,
    parse_endpoint,
    plugin_of,
    team_choices,
)
from lemur.ui.pages import FormErrors, FormInvalid, Posted, SignedIn, Visit, parse, schema_fields
from lemur.ui.routes.notification_channels import option_values

router = APIRouter()


def _edit_page(
    visit: Visit,
    destination_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    authorize(visit.principal, Action.DESTINATION_MANAGE)
    with visit.services() as services:
        destination = services.destinations().get(destination_id)
        teams = team_choices(services)
    plugin = plugin_of(visit, destination.plugin)
    listed = destination.options.get("secrets_set")
    secrets_set = [str(s) for s in listed] if isinstance(listed, list) else []
    if values is None:
        values = {
            "name": destination.name,
            "description": destination.description,
            "team_id": str(destination.team_id or ""),
            **option_values(destination.options),
        }
    return visit.render(
        "destinations/edit.html",
        status=status,
        destination=destination,
        plugin=plugin,
        fields=schema_fields(plugin.options_schema) if plugin else [],
        secrets_set=secrets_set,
        teams=teams,
        errors=errors or FormErrors(),
        values=values,
    )


@router.get("/destinations/{destination_id:int}/edit", response_class=HTMLResponse)
def edit_form(visit: SignedIn, destination_id: PathId) -> Response:
    return _edit_page(visit, destination_id)


@router.post("/destinations/{destination_id:int}/edit", response_class=HTMLResponse)
def update_destination(visit: SignedIn, form: Posted, destination_id: PathId) -> Response:
    authorize(visit.principal, Action.DESTINATION_MANAGE)

    def work() -> Response:
        try:
            with visit.services() as services:
                service = services.destinations()
                current = service.get(destination_id)
                plugin = plugin_of(visit, current.plugin)
                options = destination_options(plugin, form, editing=True)
                any_team = not form.get("team_id").strip()
                body = parse(
                    DestinationUpdate,
                    form,
                    extra={
                        "options": options,
                        "name": form.get("name"),
                        "description": form.get("description"),
                        "any_team": any_team,
                    },
                )
                updated = service.update(
                    destination_id,
                    name=body.name,
                    options=body.options,
                    description=body.description,
                    team_id=body.team_id,
                    clear_team=body.any_team,
                )
        except FormInvalid as exc:
            return _edit_page(
                visit, destination_id, status=422, errors=exc.errors, values=form.values
            )
        except LemurError as exc:
            if exc.status in (403, 404) and exc.field in (None, "destination_id"):
                raise
            return _edit_page(
                visit,
                destination_id,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
            )
        return visit.redirect(
            f"/destinations/{destination_id}",
            notice=f"Destination {updated.name} was saved.",
        )

    return visit.once(form, work)


@router.post("/destinations/{destination_id:int}/endpoints", response_class=HTMLResponse)
def add_endpoint(visit: SignedIn, form: Posted, destination_id: PathId) -> Response:
    authorize(visit.principal, Action.DESTINATION_MANAGE)
    kept = {"endpoint": form.get("endpoint")}

    def work() -> Response:
        try:
            spec = parse_endpoint(form.get("endpoint"), field="endpoint")
            with visit.services() as services:
                services.destinations().add_endpoint(destination_id, spec)
        except LemurError as exc:
            if exc.status in (403, 404) and exc.field in (None, "destination_id"):
                raise
            return detail_page(
                visit,
                destination_id,
                status=exc.status,
                errors=FormErrors({"endpoint": exc.message}),
                values=kept,
                failed="endpoint",
            )
        return visit.redirect(
            f"/destinations/{destination_id}", notice=f"Endpoint {spec.label} was added."
        )

    return visit.once(form, work)


@router.post(
    "/destinations/{destination_id:int}/endpoints/{endpoint_id:int}/remove",
    response_class=HTMLResponse,
)
def remove_endpoint(
    visit: SignedIn, form: Posted, destination_id: PathId, endpoint_id: PathId
) -> Response:
    authorize(visit.principal, Action.DESTINATION_MANAGE)

    def work() -> Response:
        with visit.services() as services:
            services.destinations().remove_endpoint(destination_id, endpoint_id)
        return visit.redirect(f"/destinations/{destination_id}", notice="The endpoint was removed.")

    return visit.once(form, work)
