"""Destinations: the list, a new destination (choose the plugin, then its options form
generated from its JSON Schema, the team, the endpoints), a destination's page ("Check
connection", delete). Editing and endpoints: lemur.ui.routes.destination_edit.

Lemur connects before it creates a destination (the service does), so options that cannot
reach the target are refused next to their field and nothing is stored.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.deployments.schemas import DestinationCreate
from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.plugins.registry import PluginDescription
from lemur.ui.destination_queries import destination_rows
from lemur.ui.destination_views import (
    ENDPOINTS_HELP,
    destination_options,
    destination_plugins,
    detail_page,
    parse_endpoints,
    plugin_of,
    team_choices,
)
from lemur.ui.pages import (
    FORM,
    FormErrors,
    FormInvalid,
    Posted,
    QueryLine,
    SignedIn,
    Visit,
    parse,
    schema_fields,
)

router = APIRouter()


@router.get("/destinations", response_class=HTMLResponse)
def destinations(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.DESTINATION_READ)
    with visit.services() as services:
        rows = destination_rows(services.uow.read)
    return visit.render(
        "destinations/list.html", rows=rows, may_manage=visit.may(Action.DESTINATION_MANAGE)
    )


def _new_page(
    visit: Visit,
    plugin: PluginDescription | None,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with visit.services() as services:
        teams = team_choices(services)
    return visit.render(
        "destinations/new.html",
        status=status,
        plugins=destination_plugins(visit),
        plugin=plugin,
        fields=schema_fields(plugin.options_schema) if plugin else [],
        teams=teams,
        endpoints_help=ENDPOINTS_HELP,
        errors=errors or FormErrors(),
        values=values or {},
    )


@router.get("/destinations/new", response_class=HTMLResponse)
def new_destination(visit: SignedIn, plugin: QueryLine = "") -> Response:
    """Without a plugin (or an unknown one): choose it; with one: its options form."""
    authorize(visit.principal, Action.DESTINATION_MANAGE)
    found = plugin_of(visit, plugin) if plugin else None
    errors = (
        FormErrors({"plugin": "Choose one of the plugins listed."})
        if plugin and not found
        else None
    )
    return _new_page(visit, found, errors=errors, status=422 if errors else 200)


@router.post("/destinations/new", response_class=HTMLResponse)
def create_destination(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.DESTINATION_MANAGE)
    plugin = plugin_of(visit, form.get("plugin"))

    def work() -> Response:
        specs, errors = parse_endpoints(form.lines("endpoints"))
        try:
            options = destination_options(plugin, form, editing=False)
            body = parse(DestinationCreate, form, extra={"options": options, "endpoints": []})
        except FormInvalid as exc:
            errors.update(exc.errors)
            body = None
        if body is None or errors:
            return _new_page(visit, plugin, status=422, errors=errors, values=form.values)
        try:
            with visit.services() as services:
                created = services.destinations().create(
                    body.name,
                    body.plugin,
                    body.options,
                    description=body.description,
                    team_id=body.team_id,
                    endpoints=specs,
                )
        except LemurError as exc:
            if exc.status == 403:
                raise
            return _new_page(
                visit,
                plugin,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
            )
        return visit.redirect(
            f"/destinations/{created.id}",
            notice=f"Destination {created.name} was created: Lemur reached it.",
        )

    return visit.once(form, work)


@router.get("/destinations/{destination_id:int}", response_class=HTMLResponse)
def destination(visit: SignedIn, destination_id: PathId) -> Response:
    return detail_page(visit, destination_id)


@router.post("/destinations/{destination_id:int}/check", response_class=HTMLResponse)
def check_connection(visit: SignedIn, form: Posted, destination_id: PathId) -> Response:
    """Connects now and shows the answer on the destination's page; reloading that page
    does not connect again."""
    authorize(visit.principal, Action.DESTINATION_MANAGE)

    def work() -> Response:
        with visit.services() as services:
            result = services.destinations().check(destination_id)
        return detail_page(visit, destination_id, check=result)

    return visit.once(form, work, then=f"/destinations/{destination_id}")


@router.post("/destinations/{destination_id:int}/delete", response_class=HTMLResponse)
def delete_destination(visit: SignedIn, form: Posted, destination_id: PathId) -> Response:
    """Refused (409) while certificates are attached: the page says so."""
    authorize(visit.principal, Action.DESTINATION_MANAGE)

    def work() -> Response:
        try:
            with visit.services() as services:
                service = services.destinations()
                name = service.get(destination_id).name
                service.delete(destination_id)
        except LemurError as exc:
            if exc.status in (403, 404):
                raise
            return detail_page(
                visit,
                destination_id,
                status=exc.status,
                errors=FormErrors({FORM: exc.message}),
                failed="delete",
            )
        return visit.redirect("/destinations", notice=f"Destination {name} was deleted.")

    return visit.once(form, work)
