"""lemur cert stats: the dashboard's figures (GET /api/v1/statistics) as tables."""

from __future__ import annotations

import typer
from rich.table import Column
from rich.text import Text

from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import day, section, status_text, utc
from lemur.cli.output import col, emit_json, out, table, time_col
from lemur.statistics.schemas import CertificateBriefOut, RankingOut, StatisticsOut
from lemur.statistics.service import Scope

API = "/api/v1/statistics"
NO_TEAM = "(no team)"
NO_AUTHORITY = "(none: imported or external)"


def _briefs(title: str, items: list[CertificateBriefOut], *, revoked: bool = False) -> None:
    columns: list[str | Column] = [
        col("id", fixed=True, right=True),
        col("common name", min_width=10),
        "team",
    ]
    if revoked:
        columns += [time_col("revoked (UTC)"), col("reason", fixed=True)]
    else:
        columns += [time_col("starts (UTC)"), time_col("expires (UTC)")]
    rows = [
        (
            c.id,
            Text(c.common_name or ""),
            Text(c.team.name if c.team else ""),
            *(
                (day(c.revoked_at), c.revocation_reason or "")
                if revoked
                else (day(c.not_before), day(c.not_after))
            ),
        )
        for c in items
    ]
    table(title, columns, rows)


def _ranking(title: str, ranking: RankingOut, none_label: str) -> None:
    rows: list[tuple[Text, int]] = [
        (Text(g.name if g.name is not None else none_label), g.count) for g in ranking.top
    ]
    if ranking.other_groups:
        rows.append((Text(f"{ranking.other_groups} others"), ranking.others))
    table(title, [col("name", min_width=10), col("certificates", fixed=True, right=True)], rows)


def show_statistics(stats: StatisticsOut) -> None:
    whose = "every certificate" if stats.scope is Scope.ALL else "the certificates of your teams"
    out.print(
        f"[bold]Figures of {whose}[/], as of {utc(stats.computed_at)} "
        f"(figures are reused for up to {stats.max_age_seconds} s)"
    )
    section(f"{stats.total} certificates")
    table(
        None,
        [col("status", fixed=True), col("certificates", fixed=True, right=True)],
        [(status_text(name.replace("_", " ")), count) for name, count in stats.by_status.items()],
    )
    section("Expiring (not revoked, not renewed)")
    table(
        None,
        [col("within", fixed=True), col("certificates", fixed=True, right=True)],
        [(f"{w.days} days", w.count) for w in stats.expiring],
    )
    section(
        "Issued: " + ", ".join(f"{w.count} in the last {w.days} days" for w in stats.issued.windows)
    )
    _briefs("Newest", stats.issued.newest)
    section(f"Revoked: {stats.revoked.count}")
    _briefs("Most recently revoked", stats.revoked.recent, revoked=True)
    section("Not expired, by team")
    _ranking("", stats.by_team, NO_TEAM)
    section("Not expired, by authority")
    _ranking("", stats.by_authority, NO_AUTHORITY)


def stats(
    every: bool = typer.Option(
        False, "--all", help="every certificate (admin, security and read-only users)"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Certificates expiring soon, recently issued and revoked, and counts by status, team
    and authority: of your teams' certificates, or with --all of every certificate."""
    with connect(url, token) as client:
        answer = client.get(API, StatisticsOut, scope=(Scope.ALL if every else Scope.MINE).value)
    if as_json:
        emit_json(answer.model_dump(mode="json"))
        return
    show_statistics(answer)
