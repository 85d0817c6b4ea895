"""lemur cert check-names: what the request form says about names, before requesting."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from lemur.certificates.name_check_schemas import LimitsOut, NameCheckOut, NameOut
from lemur.cli.certs.common import API
from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import fields, section
from lemur.cli.output import EXIT_CHECK_FAILED, col, emit_json, table
from lemur.crypto.profiles import Profile


def _status(name: NameOut) -> str:
    if name.error is not None:
        return f"{'invalid' if not name.valid else 'not permitted'}: {name.error.message}"
    return "ok"


def _notes(name: NameOut) -> str:
    notes = []
    if name.unicode and name.unicode != name.normalized:
        notes.append(f"reads as {name.unicode}")
    if name.wildcard_covers is not None:
        notes.append(name.wildcard_covers.covers)
    if name.covered_by:
        notes.append(f"already covered by {name.covered_by}")
    notes += [f"add {s.name}? {s.reason}" for s in name.suggestions]
    if name.held_by_other_team:
        notes.append("another team already holds a live certificate for it")
    notes += [
        f"you can see certificate {e.id}" + (f" ({e.team.name})" if e.team else "")
        for e in name.existing
    ]
    return "; ".join(notes)


def _limits(limits: LimitsOut) -> None:
    section(f"authority {limits.name}")
    fields(
        [
            ("validity", f"{limits.default_validity_days} days by default, at most "
             f"{limits.max_validity_days} ({limits.profile})"),
            ("key types", limits.key_types),
            ("recommended", f"{limits.recommended_key_type}: {limits.recommended_key_type_reason}"),
            ("subject fields", limits.allowed_subject_fields or "common name only"),
            ("extended key usages", limits.allowed_extended_key_usages),
        ]
    )  # fmt: skip


def check_names(
    names: list[str] = typer.Argument(..., help="DNS names, IP addresses, emails or URIs"),
    authority: str | None = typer.Option(
        None, "--authority", help="authority (name or id); default: the request form's default"
    ),
    team: str | None = typer.Option(
        None, "--team", help="the team the certificate would be for (name or id)"
    ),
    profile: Profile = typer.Option(Profile.SERVER, help="for the validity limits"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Check names as the request form does: normal and Unicode forms, wildcard coverage,
    the www/apex partner, the authority's policy, other teams' certificates; and the
    authority's limits. Exits 1 when a name cannot be issued."""
    with connect(url, token) as client:
        body: dict[str, Any] = {"names": names, "profile": profile.value}
        if authority is not None:
            body["authority_id"] = client.authority(authority).id
        if team is not None:
            body["team_id"] = client.team(team).id
        answer = client.post(f"{API}/name-check", body, NameCheckOut)
    if as_json:
        emit_json(answer.model_dump(mode="json"))
    else:
        table(
            None,
            [col("name"), col("as issued"), col("kind", fixed=True), col("status"), col("notes")],
            [
                (Text(n.input), Text(n.normalized or ""), n.kind, Text(_status(n)), Text(_notes(n)))
                for n in answer.names
            ],
            drop_empty=("notes",),
        )
        if answer.authority is not None:
            _limits(answer.authority)
    if any(n.error is not None for n in answer.names):
        raise typer.Exit(EXIT_CHECK_FAILED)
