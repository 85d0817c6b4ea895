"""The dashboard (``/``): the figures of GET /api/v1/statistics for the user's teams and, for
those who read every team's certificates (admin, security, read-only), for every
certificate; with SVG charts (lemur.ui.charts) and links into the inventory that list
exactly the certificates a figure counts (the list API's query names)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from lemur.statistics.queries import Brief, Ranking
from lemur.statistics.service import CertificateStatistics, Scope, sees_every_team
from lemur.ui.charts import Bar, bar_chart, expiry_histogram
from lemur.ui.format import query
from lemur.ui.pages import SignedIn

router = APIRouter()
INVENTORY = "/certificates"
NO_TEAM = "No team"
NO_AUTHORITY = "No authority (imported)"
# Renewed (superseded) certificates are counted where the figure says so; the inventory
# hides them unless asked.
WITH_RENEWED = {"include_superseded": "true"}
# Archived certificates are counted (no index tells them apart: lemur.statistics.queries),
# so every link asks the inventory for them too.
WITH_ARCHIVED = {"include_archived": "true"}
STATUS_LINKS = ("expiring", "expired", "revoked")


@dataclass(frozen=True)
class Figure:
    label: str
    count: str
    href: str | None
    testid: str


@dataclass(frozen=True)
class GroupRow:
    name: str
    count: str
    href: str | None


@dataclass(frozen=True)
class ScopeView:
    key: str
    heading: str
    as_of: str
    max_age_seconds: int
    total: str
    expiring: list[Figure]
    histogram: Markup
    issued: list[Figure]
    issued_href: str | None
    newest: tuple[Brief, ...]
    revoked: Figure
    recently_revoked: tuple[Brief, ...]
    statuses: list[Figure]
    by_team: list[GroupRow]
    team_chart: Markup
    by_authority: list[GroupRow]
    authority_chart: Markup


def _svg(svg: str) -> Markup:
    """A chart of lemur.ui.charts, whose labels ElementTree has escaped, as page markup."""
    return Markup(svg)  # noqa: S704 - built by ElementTree, every label escaped there


def _n(value: int) -> str:
    return f"{value:,}"


def _href(base: Mapping[str, object] | None, **params: object) -> str | None:
    """An inventory link with ``params`` added to the scope's own filter; None when the
    scope cannot be expressed as one (several teams of a user who sees every team)."""
    if base is None:
        return None
    return INVENTORY + query({**base, **params, **WITH_ARCHIVED})


def _rows(
    ranking: Ranking, *, none_label: str, link: Mapping[str, object] | None, key: str
) -> list[GroupRow]:
    rows = [
        GroupRow(
            name=g.name if g.name is not None else none_label,
            count=_n(g.count),
            href=None if g.id is None or link is None else _href(link, **{key: g.id}),
        )
        for g in ranking.top
    ]
    if ranking.other_groups:
        noun = "team" if key == "team_id" else "authority"
        plural = (
            noun if ranking.other_groups == 1 else ("teams" if noun == "team" else "authorities")
        )
        rows.append(GroupRow(f"{ranking.other_groups} other {plural}", _n(ranking.others), None))
    return rows


def _bars(ranking: Ranking, none_label: str) -> list[Bar]:
    bars = [Bar(g.name if g.name is not None else none_label, g.count) for g in ranking.top]
    if ranking.other_groups:
        bars.append(Bar("Others", ranking.others))
    return bars


def scope_view(
    stats: CertificateStatistics, *, heading: str, base: Mapping[str, object] | None
) -> ScopeView:
    """What the page shows of one scope; ``base``: the inventory filter that selects the
    scope's certificates ({} for all that the user's inventory shows)."""
    f = stats.figures
    key = stats.scope.value
    expiring = dict(f.expiring)
    buckets, previous = [], 0
    for days, count in f.expiring:
        label = f"{previous + 1 if previous else 0}-{days} days"
        buckets.append(Bar(label, count - expiring.get(previous, 0)))
        previous = days
    return ScopeView(
        key=key,
        heading=heading,
        as_of=stats.computed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        max_age_seconds=int(stats.max_age.total_seconds()),
        total=_n(f.total),
        expiring=[
            Figure(
                f"Expiring within {days} days",
                _n(count),
                _href(base, status="expiring", expiring_within_days=days),
                f"{key}-expiring-{days}",
            )
            for days, count in f.expiring
        ],
        histogram=_svg(
            expiry_histogram(
                buckets, chart_id=f"{key}-expiry-chart", title="Certificates by days to expiry"
            )
        ),
        issued=[
            Figure(f"Issued in the last {days} days", _n(count), None, f"{key}-issued-{days}")
            for days, count in f.issued
        ],
        issued_href=_href(base, sort="not_before", order="desc", **WITH_RENEWED),
        newest=f.newest,
        revoked=Figure(
            "Revoked",
            _n(f.revoked),
            _href(base, status="revoked", **WITH_RENEWED),
            f"{key}-revoked",
        ),
        recently_revoked=f.recently_revoked,
        statuses=[
            Figure(
                status.replace("_", " "),
                _n(count),
                _href(base, status=status, **WITH_RENEWED) if status in STATUS_LINKS else None,
                f"{key}-status-{status}",
            )
            for status, count in f.by_status
        ],
        by_team=_rows(
            f.by_team,
            none_label=NO_TEAM,
            # A team's own row links to it even where the scope's figures cannot.
            link=WITH_RENEWED,
            key="team_id",
        ),
        team_chart=_svg(
            bar_chart(
                _bars(f.by_team, NO_TEAM),
                chart_id=f"{key}-team-chart",
                title="Certificates not yet expired, by team",
            )
        ),
        by_authority=_rows(
            f.by_authority,
            none_label=NO_AUTHORITY,
            link=None if base is None else {**base, **WITH_RENEWED},
            key="authority_id",
        ),
        authority_chart=_svg(
            bar_chart(
                _bars(f.by_authority, NO_AUTHORITY),
                chart_id=f"{key}-authority-chart",
                title="Certificates not yet expired, by authority",
            )
        ),
    )


@functools.lru_cache(maxsize=64)
def _kept_view(
    stats: CertificateStatistics, heading: str, base: tuple[tuple[str, object], ...] | None
) -> ScopeView:
    """The view of figures the process keeps (lemur.statistics.cache) is built once per
    count, not per request: its charts are most of the page's own work."""
    return scope_view(stats, heading=heading, base=None if base is None else dict(base))


@router.get("/", response_class=HTMLResponse)
def dashboard(visit: SignedIn) -> Response:
    every = sees_every_team(visit.principal)
    team_ids = sorted(visit.principal.team_ids)
    views = []
    with visit.services() as services:
        statistics = services.statistics()
        if team_ids:
            # A member's inventory is their teams' already; a user who sees every team
            # narrows it to their one team, or cannot narrow it to several at once.
            base: dict[str, object] | None = {}
            if every:
                base = {"team_id": team_ids[0]} if len(team_ids) == 1 else None
            views.append(
                _kept_view(
                    statistics.statistics(Scope.MINE),
                    "Your teams' certificates",
                    None if base is None else tuple(base.items()),
                )
            )
        if every:
            views.append(_kept_view(statistics.statistics(Scope.ALL), "All certificates", ()))
    return visit.render(
        "dashboard/index.html", teams=visit.teams, views=views, sees_every_team=every
    )
