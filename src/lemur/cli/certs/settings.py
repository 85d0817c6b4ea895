"""lemur cert edit | archive | unarchive: a certificate's team, description and
notifications, and keeping it out of the lists."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from lemur.certificates.schemas import CertificateDetailOut
from lemur.cli.certs.common import API
from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import fields, utc
from lemur.cli.options import record_id
from lemur.cli.output import UsageError, emit


def print_settings(c: CertificateDetailOut) -> None:
    fields(
        [
            ("team", c.team.name if c.team else None),
            ("description", c.description),
            ("notifications", settings_notify(c)),
            ("archived", f"{utc(c.archived_at)} by {c.archived_by}" if c.archived_at else None),
        ]
    )


def settings_notify(c: CertificateDetailOut) -> str:
    if c.mute is None:
        return "on"
    return f"off (muted by {c.mute.muted_by} at {utc(c.mute.muted_at)}: {c.mute.reason})"


def edit(
    certificate_id: int = record_id(),
    team: str | None = typer.Option(
        None, "--team", help="move it to this team (name or id; you need the right on both)"
    ),
    description: str | None = typer.Option(
        None, "--description", help="what it is for (at most 1000 characters; '' removes it)"
    ),
    notify: bool | None = typer.Option(
        None, "--notify/--no-notify", help="notifications about it on or off (off mutes it)"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Change a certificate's team, description or notifications (audited with the old and
    new values)."""
    if team is None and description is None and notify is None:
        raise UsageError(
            "nothing to change: give --team, --description, --notify or --no-notify",
            code="nothing_to_change",
        )
    with connect(url, token) as client:
        body: dict[str, Any] = {}
        if team is not None:
            body["team_id"] = client.team(team).id
        if description is not None:
            body["description"] = description
        if notify is not None:
            body["notify"] = notify
        item = client.patch(f"{API}/{certificate_id}", body, CertificateDetailOut)
    note = f"updated certificate [bold]{item.id}[/]: {escape(item.common_name or item.subject)}"
    emit(item, as_json, print_settings, note=note)


def archive(
    certificate_id: int = record_id(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Archive a certificate: left out of lists, searches, renewal and expiry notices; kept
    (`lemur cert show` and `lemur cert list --include-archived` still find it)."""
    with connect(url, token) as client:
        item = client.post(f"{API}/{certificate_id}/archive", None, CertificateDetailOut)
    note = f"archived certificate [bold]{item.id}[/]: {escape(item.common_name or item.subject)}"
    emit(item, as_json, note=note)


def unarchive(
    certificate_id: int = record_id(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Bring an archived certificate back into the lists."""
    with connect(url, token) as client:
        item = client.post(f"{API}/{certificate_id}/unarchive", None, CertificateDetailOut)
    note = f"unarchived certificate [bold]{item.id}[/]: {escape(item.common_name or item.subject)}"
    emit(item, as_json, note=note)
