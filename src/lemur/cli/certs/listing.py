"""lemur cert list: search the inventory, one page or all of them."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from lemur.bounds import MAX_DAYS_AHEAD
from lemur.certificates.enums import SortKey, Status
from lemur.certificates.schemas import CertificateOut, CertificatePageOut
from lemur.cli.certs.common import API
from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import day, key_label, status_text
from lemur.cli.options import ranged
from lemur.cli.output import col, emit_json, err, out, table, time_col

PAGE_LIMIT_MAX = 200


def fetch_all(client: LemurClient, params: dict[str, Any]) -> list[CertificateOut]:
    """Every page, following next_cursor; a progress line on a terminal."""
    items: list[CertificateOut] = []
    cursor: str | None = None
    status = err.status("fetching certificates") if err.is_terminal else None
    if status is not None:
        status.start()
    try:
        while True:
            page = client.get(
                API, CertificatePageOut, **params, limit=PAGE_LIMIT_MAX, cursor=cursor
            )
            items.extend(page.items)
            if status is not None:
                status.update(f"fetched {len(items)} certificates")
            cursor = page.next_cursor
            if not cursor:
                return items
    finally:
        if status is not None:
            status.stop()


def _status(c: CertificateOut) -> Text:
    text = status_text(c.status)
    if c.archived_at is not None:
        text.append(" archived", style="dim")
    return text


def list_(
    name: str | None = typer.Option(
        None, "--name", help="exact DNS name; also finds wildcards covering it"
    ),
    contains: str | None = typer.Option(None, "--contains", help="any name containing this"),
    team: str | None = typer.Option(None, "--team", help="team name or id"),
    authority: str | None = typer.Option(None, "--authority", help="authority name or id"),
    status: Status | None = typer.Option(
        None, "--status", help="valid, expiring, expired, revoked"
    ),
    expiring_within: int | None = ranged(
        None,
        "--expiring-within",
        within=(0, MAX_DAYS_AHEAD),
        metavar="DAYS",
        help="expiring within DAYS days",
    ),
    serial: str | None = typer.Option(None, "--serial", help="hex (colons allowed) or decimal"),
    fingerprint: str | None = typer.Option(None, "--fingerprint", help="SHA-256 or SHA-1, hex"),
    include_expired: bool = typer.Option(False, "--include-expired"),
    include_superseded: bool = typer.Option(
        False, "--include-superseded", help="also renewed (replaced) certificates"
    ),
    include_archived: bool = typer.Option(
        False, "--include-archived", help="also archived certificates"
    ),
    sort: SortKey = typer.Option(SortKey.NOT_AFTER, "--sort"),
    descending: bool = typer.Option(False, "--desc", help="sort descending"),
    all_pages: bool = typer.Option(False, "--all-pages", help="fetch every page"),
    limit: int = ranged(50, "--limit", within=(1, PAGE_LIMIT_MAX), help="page size"),
    cursor: str | None = typer.Option(None, "--cursor", help="from the previous page's hint"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """List and search certificates (expired, renewed and archived ones hidden unless asked
    for)."""
    if all_pages and cursor:
        raise typer.BadParameter("--all-pages starts at the first page", param_hint="--cursor")
    with connect(url, token) as client:
        params: dict[str, Any] = {
            "name": name,
            "name_contains": contains,
            "team_id": client.team(team).id if team else None,
            "authority_id": client.authority(authority).id if authority else None,
            "status": status.value if status else None,
            "expiring_within_days": expiring_within,
            "serial": serial,
            "fingerprint": fingerprint,
            "include_expired": "true" if include_expired else None,
            "include_superseded": "true" if include_superseded else None,
            "include_archived": "true" if include_archived else None,
            "sort": sort.value,
            "order": "desc" if descending else "asc",
        }
        if all_pages:
            page = CertificatePageOut(items=fetch_all(client, params), next_cursor=None)
        else:
            page = client.get(API, CertificatePageOut, **params, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page.model_dump(mode="json"))
        return
    table(
        None,
        [
            col("id", fixed=True, right=True),
            col("common name", min_width=10),
            # Every name, wrapped (and long ones folded) onto as many lines as they need.
            col("names", min_width=10),
            "team",
            col("status", fixed=True),
            time_col("expires (UTC)"),
            col("key", fixed=True),
        ],
        [
            (
                c.id,
                Text(c.common_name or ""),
                Text(", ".join(c.names)),
                Text(c.team.name if c.team else ""),
                _status(c),
                day(c.not_after),
                key_label(c),
            )
            for c in page.items
        ],
    )
    if page.next_cursor:
        out.print(f"[dim]more: add --cursor {page.next_cursor} (or --all-pages for everything)[/]")
