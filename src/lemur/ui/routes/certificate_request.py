"""/certificates/new: request a certificate, the paved road.

The form posts the API's own request model (``CertificateRequest``, through ``parse``) to
the same issuance service, and checks the names with the same name check the page's script
calls while you type (``POST /api/v1/certificates/name-check``), so the form, the script and
the API accept and refuse exactly the same input. With JavaScript off, "Check names" shows
the same report and its "Add www…" buttons from the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authorities.signing import IssuingAuthority
from lemur.authz import Action
from lemur.certificates.fields import issue_error
from lemur.certificates.name_check import NameReport, RequestLimits
from lemur.certificates.schemas import CertificateRequest
from lemur.crypto.keys import KeySpec
from lemur.crypto.name_facts import DNS, EMAIL, IP, URI, classify
from lemur.crypto.profiles import Profile
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName, KeyUsageName
from lemur.errors import InvalidInput, LemurError
from lemur.ids import MAX_ID
from lemur.orders.records import RequestRecord
from lemur.services import Services
from lemur.ui.destination_queries import OpenDestination, open_destinations
from lemur.ui.pages import FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()
TEMPLATE = "certificates/new.html"
NAMES = "names"  # the textarea: one name per line, of any kind
# A common name has at most 64 characters (RFC 5280 ub-common-name); longer names are SANs only.
MAX_COMMON_NAME = 64
_SAN_FIELDS = {DNS: "dns_names", IP: "ip_addresses", EMAIL: "emails", URI: "uris"}


@dataclass(frozen=True)
class Choices:
    """What the form offers: teams, authorities with their limits, and the defaults."""

    teams: list[tuple[int, str]]
    authorities: list[IssuingAuthority]
    limits: dict[int, RequestLimits]
    authority: RequestLimits | None  # the selected one's
    profile: Profile
    # Destinations open to one of the teams offered (each says which team it is reserved
    # for); the service refuses one the chosen team may not use, next to the field.
    destinations: list[OpenDestination]

    @property
    def destination_choices(self) -> list[tuple[str, str]]:
        return [(str(d.id), d.label) for d in self.destinations]

    def limits_json(self, authority_id: int) -> str:
        """One authority's limits for the script (a data attribute, not inline script)."""
        found = self.limits[authority_id]
        return json.dumps(
            {
                "name": found.authority.name,
                "default_validity_days": found.default_validity_days,
                "max_validity_days": found.max_validity_days,
                "key_types": [k.value for k in found.key_types],
                "subject_fields": [f.value for f in found.subject_fields],
                "extended_key_usages": [u.value for u in found.extended_key_usages],
                "key_usages": {k.value: [u.value for u in v] for k, v in found.key_usages.items()},
                "cab_forum": found.authority.cab_forum,
            }
        )


def _number(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ID else None


def _teams(visit: Visit, services: Services) -> list[tuple[int, str]]:
    """The teams the user may request for: any team for roles allowed on every team (no
    team has id 0), else their own."""
    if visit.may(Action.CERTIFICATE_ISSUE, team_id=0):
        return [(t.id, t.name) for t in services.accounts().list_teams()]
    return [(t.id, t.name) for t in visit.teams]


def _choices(visit: Visit, services: Services, values: dict[str, str]) -> Choices:
    authorities, default = services.name_check().signing_authorities()
    profile = (
        Profile(values["profile"]) if values.get("profile") in set(Profile) else Profile.SERVER
    )
    limits = services.name_check().limits(authorities, profile)
    chosen = _number(values.get("authority_id", ""))
    selected = limits.get(chosen) if chosen else None
    if selected is None and default is not None:
        selected = limits[default.id]
    teams = _teams(visit, services)
    everyone = visit.may(Action.CERTIFICATE_ISSUE, team_id=0)
    destinations = open_destinations(services.uow.read, None if everyone else [t for t, _ in teams])
    return Choices(teams, authorities, limits, selected, profile, destinations)


def _defaults(choices: Choices) -> dict[str, str]:
    """A fresh form: the user's only team, the default authority, the recommended key."""
    values = {"key_type": KeySpec.EC_P256.value, "profile": Profile.SERVER.value}
    if len(choices.teams) == 1:
        values["team_id"] = str(choices.teams[0][0])
    if choices.authority is not None:
        values["authority_id"] = str(choices.authority.authority.id)
        values["key_type"] = choices.authority.recommended_key_type.value
    return values


def _report(
    services: Services, names: list[str], values: dict[str, str]
) -> tuple[NameReport, ...] | None:
    """The name check of the posted names, or None when the choices cannot be checked (a
    team or an authority that is not the user's to choose: the request says why)."""
    profile = (
        Profile(values["profile"]) if values.get("profile") in set(Profile) else Profile.SERVER
    )
    try:
        return (
            services.name_check()
            .check(
                names,
                team_id=_number(values.get("team_id", "")),
                authority_id=_number(values.get("authority_id", "")),
                profile=profile,
            )
            .names
        )
    except LemurError:
        return None


def _page(
    visit: Visit,
    *,
    values: dict[str, str],
    errors: FormErrors | None = None,
    names: list[str] | None = None,
    status: int = 200,
) -> Response:
    with visit.services() as services:
        choices = _choices(visit, services, values)
        if not values:
            values = _defaults(choices)
        report = _report(services, names, values) if names else None
    return visit.render(
        TEMPLATE,
        status=status,
        values=values,
        errors=errors or FormErrors(),
        choices=choices,
        report=report,
        picked={
            k: values.get(k, "").split("\n")
            for k in ("key_usage", "extended_key_usage", "destinations")
        },
        subject_fields=list(SubjectField),
        key_usages=list(KeyUsageName),
        extended_key_usages=list(ExtendedKeyUsageName),
        key_types=list(KeySpec),
        profiles=list(Profile),
    )


def _sans(names: list[str]) -> tuple[str | None, dict[str, list[str]]]:
    """The lines sorted into the request's SAN lists by kind; the first DNS name that fits
    is the common name."""
    sans: dict[str, list[str]] = {field: [] for field in _SAN_FIELDS.values()}
    for name in names:
        sans[_SAN_FIELDS[classify(name)]].append(name)
    fitting = [n for n in sans["dns_names"] if len(n.removesuffix(".")) <= MAX_COMMON_NAME]
    return (fitting[0] if fitting else None), sans


def _name_errors(report: tuple[NameReport, ...] | None) -> FormErrors:
    errors = FormErrors()
    for index, name in enumerate(report or ()):
        if name.problem is not None:
            message = name.problem.message
            if name.facts.input not in message:
                message = f"{name.facts.input}: {message}"
            errors[f"{NAMES}[{index}]"] = message
    return errors


def _form_field(field: str | None) -> str | None:
    """The form's input for a request field: every name is in the names textarea."""
    if field and field.startswith(("subject_alternative_names", "common_name")):
        return NAMES
    return field


@router.get("/certificates/new", response_class=HTMLResponse)
def new_certificate(visit: SignedIn) -> Response:
    if not visit.may(Action.CERTIFICATE_ISSUE):
        return visit.render(
            "error.html",
            status=403,
            heading="You may not request certificates",
            error=f"Your role ({visit.principal.role.value}) may not request certificates.",
        )
    return _page(visit, values={})


@router.post("/certificates/new", response_class=HTMLResponse)
def request_certificate(visit: SignedIn, form: Posted) -> Response:
    names = form.lines(NAMES)
    added = form.get("add_name").strip()
    if added or form.get("action") == "check":
        # Check the names (and take a suggestion) without issuing: the form without script.
        if added and added not in names:
            names.append(added)
        return _page(visit, values={**form.values, NAMES: "\n".join(names)}, names=names)

    def work() -> Response:
        values = {**form.values, NAMES: "\n".join(names)}
        csr = (form.file_text("csr_file") or form.get("csr")).strip() or None
        common_name, sans = _sans(names)
        errors = FormErrors()
        body = None
        try:
            body = parse(
                CertificateRequest,
                form,
                extra={"subject_alternative_names": sans, "common_name": common_name, "csr": csr},
            )
        except FormInvalid as exc:
            errors.update({_form_field(k) or k: v for k, v in exc.errors.items()})
        with visit.services() as services:
            report = _report(services, names, values) if names else None
        errors.update(_name_errors(report))
        if body is None or errors:
            return _page(visit, values=values, errors=errors, names=names, status=422)
        try:
            with visit.services() as services:
                issued = services.issuance().issue(body.to_new_certificate())
        except InvalidInput as exc:
            mapped = issue_error(exc, body)
            errors[_form_field(mapped.field) or ""] = mapped.message
            return _page(visit, values=values, errors=errors, names=names, status=422)
        except LemurError as exc:
            # A team or authority gone or deactivated since, or the CA refused (its reason).
            if exc.status == 403:
                raise
            errors[_form_field(exc.field) or ""] = exc.message
            return _page(visit, values=values, errors=errors, names=names, status=exc.status)
        if isinstance(issued, RequestRecord):
            return visit.redirect(
                f"/requests/{issued.id}",
                notice=f"Your request for {', '.join(issued.names[:3]) or issued.common_name} "
                f"is pending at the CA of {issued.authority_name}: this page follows it.",
            )
        cert = issued.certificate
        names_of = [n.name for n in cert.names if n.kind != "cn"]
        title = cert.common_name or (names_of[0] if names_of else f"Certificate {cert.id}")
        # The certificate's page shows the next steps (download, deploy) after this notice.
        return visit.redirect(
            f"/certificates/{cert.id}?notice=issued", notice=f"{title} was issued."
        )

    return visit.once(form, work)
