"""The installed plugins by kind, each with its options summarised from its JSON Schema,
and the plugins that failed to load (what GET /api/v1/plugins answers)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.plugins.base import KINDS
from lemur.plugins.registry import PluginDescription
from lemur.ui.pages import SchemaField, SignedIn, schema_fields

router = APIRouter()
# How the page names each kind, in the order it shows them.
HEADINGS = {
    "issuer": "Issuers",
    "exporter": "Exporters",
    "notifier": "Notifiers",
    "destination": "Destinations",
    "source": "Sources",
}
# What a form input of each kind holds, in a word.
TYPES = {
    "text": "text",
    "password": "text",
    "number": "number",
    "checkbox": "yes/no",
    "select": "choice",
    "textarea": "text",
    "list": "list",
}


@dataclass(frozen=True)
class Option:
    name: str
    type: str
    required: bool
    secret: bool
    help: str
    choices: tuple[str, ...]

    @classmethod
    def of(cls, f: SchemaField) -> Option:
        return cls(
            name=f.name.removeprefix("options."),
            type=TYPES.get(f.kind, f.kind),
            required=f.required,
            secret=f.secret,
            help=f.help,
            choices=f.choices,
        )


@router.get("/plugins", response_class=HTMLResponse)
def plugins(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.SELF_READ)
    registry = visit.container.plugins
    described = registry.describe()
    groups: list[tuple[str, str, list[tuple[PluginDescription, list[Option]]]]] = []
    for kind in sorted(KINDS, key=lambda k: list(HEADINGS).index(k) if k in HEADINGS else 99):
        found = [
            (d, [Option.of(f) for f in schema_fields(d.options_schema)])
            for d in described
            if d.kind == kind
        ]
        if found:
            groups.append((kind, HEADINGS.get(kind, kind), found))
    return visit.render("plugins/list.html", groups=groups, load_errors=registry.errors)
