"""Authorities: the list, one authority (its CA certificate, chain, CRL and OCSP, limits,
plugin options), a new root or intermediate with its issuer plugin's options form generated
from the plugin's JSON Schema, an external CA imported, deactivate and activate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authorities.records import AuthorityRecord
from lemur.authorities.schemas import AuthorityCreate, AuthorityImport, create_error
from lemur.authorities.specs import EXTERNAL, LOCAL_CA
from lemur.authz import Action, authorize
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.crypto.keys import KeySpec
from lemur.crypto.parsing import certificate_to_pem
from lemur.errors import InvalidInput, LemurError, NotFound
from lemur.plugins.options import options_schema, secret_paths
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
# The form's button that shows the chosen plugin's options instead of creating (no script).
SHOW_OPTIONS = "show-options"
CAB_FORUM_KEY_TYPES = "RSA 2048 bits or more, EC P-256 or P-384 (CA/B Forum BR §6.1.5)"


def kind_of(authority: AuthorityRecord) -> str:
    if not authority.has_key:
        return "external" if authority.plugin_slug == EXTERNAL else "remote"
    return "root" if authority.parent_id is None else "intermediate"


def creators(visit: Visit) -> list[PluginDescription]:
    """The installed issuer plugins that can create an authority."""
    return [
        d
        for d in visit.container.plugins.describe("issuer")
        if "create_authority" in d.capabilities
    ]


def _plugin_fields(visit: Visit, slug: str) -> tuple[str, list[SchemaField]]:
    """The chosen creator plugin (the local CA when the slug is not one) and its inputs."""
    found = {d.slug: d for d in creators(visit)}
    chosen = found.get(slug) or found.get(LOCAL_CA) or next(iter(found.values()), None)
    if chosen is None:
        return slug, []
    return chosen.slug, schema_fields(chosen.options_schema, prefix="options.")


@dataclass(frozen=True)
class Row:
    authority: AuthorityRecord
    kind: str
    parent: str | None
    issued: int


@router.get("/authorities", response_class=HTMLResponse)
def authorities(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.AUTHORITY_READ)
    with visit.services() as services:
        service = services.authorities()
        found = service.list()
        issued = service.issued_counts()
    names = {a.id: a.name for a in found}
    rows = [
        Row(a, kind_of(a), names.get(a.parent_id) if a.parent_id else None, issued.get(a.id, 0))
        for a in found
    ]
    return visit.render(
        "authorities/list.html", rows=rows, may_manage=visit.may(Action.AUTHORITY_MANAGE)
    )


@router.get("/authorities/{authority_id:int}", response_class=HTMLResponse)
def authority(visit: SignedIn, authority_id: int) -> Response:
    authorize(visit.principal, Action.AUTHORITY_READ)
    with visit.services() as services:
        service = services.authorities()
        found = service.get(authority_id)
        parent = service.get(found.parent_id) if found.parent_id else None
        options = service.plugin_options(authority_id)
        issued = service.issued_counts().get(authority_id, 0)
        urls = services.urls
    details: CertificateDetails | None = None
    chain: list[tuple[CertificateDetails, str]] = []
    if found.certificate is not None:
        details = describe_certificate(found.certificate.certificate)
        chain = [(describe_certificate(c), certificate_to_pem(c).decode()) for c in found.chain]
    listed = options.pop("secrets_set", [])
    secrets_set = [str(s) for s in listed] if isinstance(listed, list) else []
    try:
        secrets = secret_paths(visit.container.plugins.get("issuer", found.plugin_slug).Options)
    except NotFound:
        secrets = []
    return visit.render(
        "authorities/detail.html",
        authority=found,
        kind=kind_of(found),
        parent=parent,
        details=details,
        chain=chain,
        options=_flat(options),
        secrets_set=secrets_set,
        secrets=secrets,
        issued=issued,
        crl_url=urls.crl(found.id) if found.has_key else None,
        ocsp_url=urls.ocsp(found.id) if found.has_key else None,
        ca_issuers_url=urls.ca_issuers(found.id),
        key_types=CAB_FORUM_KEY_TYPES
        if found.cab_forum
        else "any Lemur issues for: " + ", ".join(k.value for k in KeySpec),
        may_manage=visit.may(Action.AUTHORITY_MANAGE),
    )


def _flat(options: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested options as dotted names and values, for a definition list."""
    out: list[tuple[str, Any]] = []
    for key, value in options.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flat(value, f"{name}."))
        else:
            out.append((name, value))
    return out


# -- new ---------------------------------------------------------------------------------------


def _new_page(
    visit: Visit,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    authorize(visit.principal, Action.AUTHORITY_MANAGE)
    values = values or {}
    slug, fields = _plugin_fields(visit, values.get("plugin", LOCAL_CA))
    with visit.services() as services:
        parents = [a for a in services.authorities().list() if a.has_key and a.active]
    return visit.render(
        "authorities/new.html",
        status=status,
        values={**values, "plugin": slug},
        errors=errors or FormErrors(),
        plugins=[(d.slug, f"{d.title} ({d.slug})") for d in creators(visit)],
        plugin=slug,
        plugin_fields=fields,
        parents=[(a.id, a.name) for a in parents],
        key_types=[(k.value, k.value) for k in KeySpec],
        policies=[(p.value, p.value) for p in RenewalPolicy],
        show_options=SHOW_OPTIONS,
    )


@router.get("/authorities/new", response_class=HTMLResponse)
def new_authority(
    visit: SignedIn, plugin: QueryLine = LOCAL_CA, parent_id: QueryLine = ""
) -> Response:
    return _new_page(visit, values={"plugin": plugin[:64], "parent_id": parent_id[:20]})


@router.get("/authorities/new/options", response_class=HTMLResponse)
def plugin_options_fragment(visit: SignedIn, plugin: QueryLine = LOCAL_CA) -> Response:
    """The options inputs of one plugin, for the script that swaps them in when the plugin
    select changes (without script, the form's "Show options" button does it)."""
    authorize(visit.principal, Action.AUTHORITY_MANAGE)
    slug, fields = _plugin_fields(visit, plugin[:64])
    return visit.render("authorities/options.html", plugin=slug, plugin_fields=fields)


@router.post("/authorities/new", response_class=HTMLResponse)
def create_authority(visit: SignedIn, form: Posted) -> Response:
    if form.get("action") == SHOW_OPTIONS:
        return _new_page(visit, values=form.values)

    def work() -> Response:
        try:
            plugin = visit.container.plugins.get("issuer", form.get("plugin") or LOCAL_CA)
            options = values_for(options_schema(plugin.Options), form, prefix="options.")
        except NotFound:
            options = {}  # the service says the plugin is not installed, next to the field
        try:
            body = parse(AuthorityCreate, form, extra={"options": options})
            with visit.services() as services:
                try:
                    created = services.authorities().create_local(body.to_spec())
                except InvalidInput as exc:
                    raise create_error(exc) from exc
        except FormInvalid as exc:
            # A subject left empty is missing as a whole: its one required member says so.
            errors = FormErrors(
                {("subject.common_name" if k == "subject" else k): m for k, m in exc.errors.items()}
            )
            return _new_page(visit, status=422, values=form.values, errors=errors)
        except LemurError as exc:
            return _new_page(
                visit, status=exc.status, values=form.values, errors=FormErrors.of_error(exc)
            )
        return visit.redirect(
            f"/authorities/{created.id}", notice=f"Authority {created.name} was created."
        )

    return visit.once(form, work)


# -- import ------------------------------------------------------------------------------------


def _import_page(
    visit: Visit, *, status: int = 200, values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:  # fmt: skip
    authorize(visit.principal, Action.AUTHORITY_MANAGE)
    return visit.render(
        "authorities/import.html", status=status, values=values or {}, errors=errors or FormErrors()
    )


@router.get("/authorities/import", response_class=HTMLResponse)
def import_form(visit: SignedIn) -> Response:
    return _import_page(visit)


def _uploaded_pem(form: Posted) -> str | None:
    """The uploaded file as PEM: a PEM file as it is, a DER certificate converted."""
    text = form.file_text("certificate_file")
    if text is not None:
        return text
    data = form.files.get("certificate_file")
    if not data:
        return None
    try:
        return certificate_to_pem(x509.load_der_x509_certificate(data)).decode()
    except ValueError:
        return "not a certificate"  # refused by the model's PEM rule, next to the field


@router.post("/authorities/import", response_class=HTMLResponse)
def import_authority(visit: SignedIn, form: Posted) -> Response:
    def work() -> Response:
        uploaded = _uploaded_pem(form)
        try:
            body = parse(
                AuthorityImport,
                form,
                extra={"certificate": uploaded} if uploaded is not None else {},
            )
            with visit.services() as services:
                created = services.authorities().import_external(
                    body.name, body.certificate.encode(), description=body.description
                )
        except FormInvalid as exc:
            return _import_page(visit, status=422, values=form.values, errors=exc.errors)
        except LemurError as exc:
            return _import_page(
                visit, status=exc.status, values=form.values, errors=FormErrors.of_error(exc)
            )
        return visit.redirect(
            f"/authorities/{created.id}", notice=f"Authority {created.name} was imported."
        )

    return visit.once(form, work)


# -- deactivate and activate -------------------------------------------------------------------


@router.post("/authorities/{authority_id:int}/deactivate", response_class=HTMLResponse)
def deactivate(visit: SignedIn, form: Posted, authority_id: int) -> Response:
    def work() -> Response:
        with visit.services() as services:
            done = services.authorities().deactivate(authority_id)
        return visit.redirect(
            f"/authorities/{done.id}",
            notice=f"Authority {done.name} is deactivated: it issues no new certificates. "
            "Its certificates, CRL and OCSP are unaffected.",
        )

    return visit.once(form, work)


@router.post("/authorities/{authority_id:int}/activate", response_class=HTMLResponse)
def activate(visit: SignedIn, form: Posted, authority_id: int) -> Response:
    def work() -> Response:
        with visit.services() as services:
            done = services.authorities().activate(authority_id)
        return visit.redirect(
            f"/authorities/{done.id}", notice=f"Authority {done.name} is active: it issues again."
        )

    return visit.once(form, work)
