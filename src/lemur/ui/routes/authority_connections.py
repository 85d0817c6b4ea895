"""Authorities reached through an issuer plugin (ACME, CFSSL, AWS Private CA): "Connect a
CA" (the plugin's options form generated from its JSON Schema; Lemur connects before it
creates anything), edit the options (secrets left empty keep their stored values), and
"Check connection"; from the same service as /api/v1/authorities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authorities.schemas import AuthorityCreate
from lemur.authz import Action, authorize
from lemur.errors import LemurError, NotFound
from lemur.plugins.options import options_schema
from lemur.plugins.registry import PluginDescription
from lemur.renewal.choices import RenewalPolicy
from lemur.ui.pages import (
    FormErrors,
    FormInvalid,
    Posted,
    QueryLine,
    SchemaField,
    SignedIn,
    Visit,
    parse,
    schema_fields,
    values_for,
)

router = APIRouter()
SHOW_OPTIONS = "show-options"


def connectors(visit: Visit) -> list[PluginDescription]:
    """The installed issuer plugins that reach a CA over the network."""
    return [d for d in visit.container.plugins.describe("issuer") if "connect" in d.capabilities]


def _fields(visit: Visit, slug: str) -> tuple[str, list[SchemaField]]:
    found = {d.slug: d for d in connectors(visit)}
    chosen = found.get(slug) or next(iter(found.values()), None)
    if chosen is None:
        return slug, []
    return chosen.slug, schema_fields(chosen.options_schema, prefix="options.")


def _options(visit: Visit, slug: str, form: Posted) -> dict[str, Any]:
    try:
        plugin = visit.container.plugins.get("issuer", slug)
    except NotFound:
        return {}  # the service says the plugin is not installed, next to the field
    return values_for(options_schema(plugin.Options), form, prefix="options.")


def _connect_page(
    visit: Visit,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    authorize(visit.principal, Action.AUTHORITY_MANAGE)
    values = values or {}
    slug, fields = _fields(visit, values.get("plugin", ""))
    return visit.render(
        "authorities/connect.html",
        status=status,
        values={**values, "plugin": slug},
        errors=errors or FormErrors(),
        plugins=[(d.slug, f"{d.title} ({d.slug})") for d in connectors(visit)],
        plugin=slug,
        plugin_fields=fields,
        policies=[(p.value, p.value) for p in RenewalPolicy],
        show_options=SHOW_OPTIONS,
    )


@router.get("/authorities/connect", response_class=HTMLResponse)
def connect_form(visit: SignedIn, plugin: QueryLine = "") -> Response:
    return _connect_page(visit, values={"plugin": plugin[:64]})


@router.get("/authorities/connect/options", response_class=HTMLResponse)
def connect_options_fragment(visit: SignedIn, plugin: QueryLine = "") -> Response:
    """The options inputs of one plugin, for the script that swaps them in."""
    authorize(visit.principal, Action.AUTHORITY_MANAGE)
    slug, fields = _fields(visit, plugin[:64])
    return visit.render("authorities/options.html", plugin=slug, plugin_fields=fields)


@router.post("/authorities/connect", response_class=HTMLResponse)
def connect(visit: SignedIn, form: Posted) -> Response:
    if form.get("action") == SHOW_OPTIONS:
        return _connect_page(visit, values=form.values)

    def work() -> Response:
        slug = form.get("plugin")
        try:
            body = parse(AuthorityCreate, form, extra={"options": _options(visit, slug, form)})
            with visit.services() as services:
                created = services.authorities().create_remote(body.to_remote_spec())
        except FormInvalid as exc:
            return _connect_page(visit, status=422, values=form.values, errors=exc.errors)
        except LemurError as exc:
            if exc.status == 403:
                raise
            return _connect_page(
                visit, status=exc.status, values=form.values, errors=FormErrors.of_error(exc)
            )
        return visit.redirect(
            f"/authorities/{created.id}",
            notice=f"Authority {created.name} was created: Lemur reached its CA.",
        )

    return visit.once(form, work)


def _options_page(
    visit: Visit,
    authority_id: int,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    authorize(visit.principal, Action.AUTHORITY_MANAGE)
    with visit.services() as services:
        service = services.authorities()
        found = service.get(authority_id)
        current = service.plugin_options(authority_id)
    try:
        plugin = visit.container.plugins.get("issuer", found.plugin_slug)
    except NotFound:
        plugin = None
    listed = current.pop("secrets_set", [])
    secrets_set = [str(s) for s in listed] if isinstance(listed, list) else []
    if values is None:
        values = {
            f"options.{k}": ("\n".join(map(str, v)) if isinstance(v, list) else str(v))
            for k, v in current.items()
            if v is not None and not isinstance(v, dict | bool)
        }
        values.update({f"options.{k}": "true" for k, v in current.items() if v is True})
    return visit.render(
        "authorities/edit_options.html",
        status=status,
        authority=found,
        values=values,
        errors=errors or FormErrors(),
        plugin_fields=schema_fields(options_schema(plugin.Options)) if plugin else [],
        secrets_set=secrets_set,
    )


@router.get("/authorities/{authority_id:int}/options", response_class=HTMLResponse)
def options_form(visit: SignedIn, authority_id: int) -> Response:
    return _options_page(visit, authority_id)


@router.post("/authorities/{authority_id:int}/options", response_class=HTMLResponse)
def update_options(visit: SignedIn, form: Posted, authority_id: int) -> Response:
    def work() -> Response:
        try:
            with visit.services() as services:
                service = services.authorities()
                found = service.get(authority_id)
                options = _options(visit, found.plugin_slug, form)
                service.update_options(authority_id, options)
        except LemurError as exc:
            if exc.status in (403, 404):
                raise
            return _options_page(
                visit,
                authority_id,
                status=exc.status,
                values=form.values,
                errors=FormErrors.of_error(exc),
            )
        return visit.redirect(
            f"/authorities/{authority_id}",
            notice="The options were saved: Lemur reached the CA with them.",
        )

    return visit.once(form, work)


@router.post("/authorities/{authority_id:int}/check", response_class=HTMLResponse)
def check(visit: SignedIn, form: Posted, authority_id: int) -> Response:
    def work() -> Response:
        try:
            with visit.services() as services:
                _found, summary = services.authorities().check_connection(authority_id)
        except LemurError as exc:
            if exc.status in (403, 404):
                raise
            return visit.redirect(
                f"/authorities/{authority_id}", notice=f"Check connection failed: {exc.message}"
            )
        return visit.redirect(f"/authorities/{authority_id}", notice=f"Connection OK: {summary}")

    return visit.once(form, work)
