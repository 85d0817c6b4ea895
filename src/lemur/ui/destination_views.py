"""What the destination pages share (lemur.ui.routes.destinations, destination_edit): the
installed destination plugins, the endpoints textarea read into EndpointSpec, and a
destination's page (also shown again with a form's errors or a connection check's answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.responses import HTMLResponse

from lemur.authz import Action
from lemur.deployments.destinations import CheckResult
from lemur.deployments.models import EndpointKind
from lemur.deployments.views import EndpointSpec
from lemur.errors import InvalidInput
from lemur.plugins.registry import PluginDescription
from lemur.services import Services
from lemur.ui.destination_queries import deployed_here
from lemur.ui.forms import Form, FormErrors, schema_fields
from lemur.ui.routes.notification_channels import option_values, posted_options, secret_states
from lemur.ui.visit import Visit

# A listener endpoint is named as the destination plugin knows it: an ELBv2 listener ARN,
# or elb:NAME:PORT for a classic load balancer.
LISTENER_PREFIXES = ("arn:", "elb:")
DEFAULT_PORT = 443
ENDPOINTS_HELP = (
    "One per line: host:port, or host:port followed by the SNI name to ask for "
    "(www.example.com:443 www.example.com), [IPv6]:port, or a load balancer listener "
    "(an ELBv2 listener ARN, or elb:NAME:PORT). Lemur checks each one by a TLS handshake "
    "after deploying; a listener is switched to the new certificate."
)


def destination_plugins(visit: Visit) -> list[PluginDescription]:
    return visit.container.plugins.describe("destination")


def plugin_of(visit: Visit, slug: str) -> PluginDescription | None:
    return next((d for d in destination_plugins(visit) if d.slug == slug), None)


def destination_options(
    plugin: PluginDescription | None, form: Form, *, editing: bool
) -> dict[str, object] | None:
    """The options the form sends. An optional setting left empty is left out when creating
    (the plugin's default applies: an empty list is not "no value" to every plugin) and
    cleared when editing; an empty secret is left out (editing: kept)."""
    if plugin is None:
        return {} if not editing else None
    options = posted_options(plugin.options_schema, form, editing=True)
    return options if editing else {k: v for k, v in options.items() if v is not None}


def team_choices(services: Services) -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in services.accounts().list_teams()]


def _host_port(text: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, or a host alone (port 443)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("write an IPv6 address in brackets, then the port: [2001:db8::1]:443")
        port = rest[1:] if rest else str(DEFAULT_PORT)
    elif text.count(":") > 1:
        raise ValueError("write an IPv6 address in brackets, then the port: [2001:db8::1]:443")
    else:
        host, sep, port = text.partition(":")
        port = port if sep else str(DEFAULT_PORT)
    if not port.isdigit() or len(port) > 5:
        raise ValueError(f"the port after ':' is a number from 1 to 65535, not {port[:16]!r}")
    return host, int(port)


def parse_endpoint(line: str, *, field: str) -> EndpointSpec:
    """One line of the endpoints textarea as the service checks it. Raises InvalidInput
    naming ``field``."""
    text = line.strip()
    if text.lower().startswith(LISTENER_PREFIXES):
        spec = EndpointSpec(kind=EndpointKind.LISTENER, listener=text)
    else:
        parts = text.split()
        if len(parts) > 2:
            raise InvalidInput(
                f"{text[:64]!r}: write host:port, then the SNI name if one is needed",
                code="invalid_endpoint",
                field=field,
            )
        try:
            host, port = _host_port(parts[0])
        except ValueError as exc:
            raise InvalidInput(
                f"{parts[0][:64]!r}: {exc}", code="invalid_endpoint", field=field
            ) from None
        spec = EndpointSpec(
            kind=EndpointKind.TLS, host=host, port=port, sni=parts[1] if len(parts) > 1 else ""
        )
    try:
        spec.check(field=field)
    except InvalidInput as exc:
        raise InvalidInput(f"{text[:64]}: {exc.message}", code=exc.code, field=field) from None
    return spec


def parse_endpoints(
    lines: list[str], *, name: str = "endpoints"
) -> tuple[list[EndpointSpec], FormErrors]:
    """Every line read (``endpoints[2]``: the third line's problem, shown next to the
    textarea)."""
    specs: list[EndpointSpec] = []
    errors = FormErrors()
    for index, line in enumerate(lines):
        try:
            specs.append(parse_endpoint(line, field=f"{name}[{index}]"))
        except InvalidInput as exc:
            errors[exc.field or name] = f"Line {index + 1}: {exc.message}"
    return specs, errors


@dataclass(frozen=True)
class OptionFact:
    label: str
    value: str


def option_facts(
    plugin: PluginDescription | None, options: Mapping[str, object]
) -> list[OptionFact]:
    """The public options in the plugin form's words; a secret says only whether it is set."""
    listed = options.get("secrets_set")
    secrets_set = {str(s) for s in listed} if isinstance(listed, list) else set()
    if plugin is None:
        return [
            OptionFact(k, "set" if k in secrets_set else ("—" if v is None else str(v)))
            for k, v in options.items()
            if k != "secrets_set"
        ]
    values = option_values(options)
    out: list[OptionFact] = []
    for f in schema_fields(plugin.options_schema):
        key = f.name.removeprefix("options.")
        if f.secret:
            out.append(OptionFact(f.label, "set" if key in secrets_set else "not set"))
        else:
            shown = values.get(f.name, "")
            out.append(OptionFact(f.label, shown.replace("\n", ", ") if shown else "—"))
    return out


def detail_page(
    visit: Visit,
    destination_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    failed: str | None = None,
    check: CheckResult | None = None,
) -> HTMLResponse:
    """The destination's page; ``failed`` names the form (endpoint, delete) whose
    ``errors`` are shown."""
    with visit.services() as services:
        destination = services.destinations().get(destination_id)
        here = deployed_here(services.uow.read, destination_id)
    plugin = plugin_of(visit, destination.plugin)
    listed = destination.options.get("secrets_set")
    secrets_set = [str(s) for s in listed] if isinstance(listed, list) else []
    fields = schema_fields(plugin.options_schema) if plugin else []
    visible = [
        d
        for d in here
        if visit.may(Action.CERTIFICATE_READ, team_id=d.team_id if d.team_id else -1)
    ]
    return visit.render(
        "destinations/detail.html",
        status=status,
        destination=destination,
        plugin=plugin,
        options=option_facts(plugin, destination.options),
        secret_states=secret_states(fields, secrets_set),
        deployed=visible,
        hidden=len(here) - len(visible),
        may_manage=visit.may(Action.DESTINATION_MANAGE),
        check=check,
        failed=failed,
        errors=errors or FormErrors(),
        values=values or {},
        now=visit.now,
    )
