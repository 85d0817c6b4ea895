"""What the dashboard shows of one scope (lemur.ui.routes.dashboard.scope_view): the
inventory links for each kind of scope, the expiry histogram's buckets, the "others" row."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from lemur.statistics.queries import Figures, Group, Ranking
from lemur.statistics.service import CertificateStatistics, Scope
from lemur.ui.routes.dashboard import scope_view
from tests.conftest import START

FIGURES = Figures(
    total=1234,
    by_status=(
        ("valid", 1000),
        ("expiring", 100),
        ("expired", 90),
        ("revoked", 40),
        ("not_yet_valid", 4),
    ),
    expiring=((7, 12), (30, 40), (90, 100)),
    issued=((7, 5), (30, 20)),
    newest=(),
    revoked=40,
    recently_revoked=(),
    by_team=Ranking(
        top=(Group(3, "payments", 900), Group(None, None, 2)), others=7, other_groups=3
    ),
    by_authority=Ranking(top=(Group(2, "local-issuing-ca", 800),), others=0, other_groups=0),
)


def stats(scope: Scope = Scope.MINE) -> CertificateStatistics:
    return CertificateStatistics(
        scope=scope,
        team_ids=(3,),
        computed_at=START,
        max_age=dt.timedelta(seconds=30),
        figures=FIGURES,
    )


def test_a_members_figures_link_to_their_inventory_as_it_is() -> None:
    view = scope_view(stats(), heading="Your teams' certificates", base={})
    assert [(f.label, f.count, f.href) for f in view.expiring] == [
        (
            "Expiring within 7 days",
            "12",
            "/certificates?status=expiring&expiring_within_days=7&include_archived=true",
        ),
        (
            "Expiring within 30 days",
            "40",
            "/certificates?status=expiring&expiring_within_days=30&include_archived=true",
        ),
        (
            "Expiring within 90 days",
            "100",
            "/certificates?status=expiring&expiring_within_days=90&include_archived=true",
        ),
    ]
    assert view.total == "1,234"
    assert (
        view.revoked.href
        == "/certificates?status=revoked&include_superseded=true&include_archived=true"
    )
    assert {f.label: f.href for f in view.statuses} == {
        "valid": None,  # the list's status=valid also lists the expiring ones
        "expiring": "/certificates?status=expiring&include_superseded=true&include_archived=true",
        "expired": "/certificates?status=expired&include_superseded=true&include_archived=true",
        "revoked": "/certificates?status=revoked&include_superseded=true&include_archived=true",
        "not yet valid": None,
    }
    assert [(r.name, r.count, r.href) for r in view.by_team] == [
        (
            "payments",
            "900",
            "/certificates?include_superseded=true&team_id=3&include_archived=true",
        ),
        ("No team", "2", None),
        ("3 other teams", "7", None),
    ]
    assert (
        view.by_authority[0].href
        == "/certificates?include_superseded=true&authority_id=2&include_archived=true"
    )
    assert view.as_of == "2026-11-27 12:00:00 UTC"


def test_one_team_of_a_user_who_sees_every_team_narrows_the_links_to_it() -> None:
    view = scope_view(stats(), heading="Your teams' certificates", base={"team_id": 3})
    assert view.expiring[0].href == (
        "/certificates?team_id=3&status=expiring&expiring_within_days=7&include_archived=true"
    )
    assert view.by_authority[0].href == (
        "/certificates?team_id=3&include_superseded=true&authority_id=2&include_archived=true"
    )
    assert (
        view.by_team[0].href
        == "/certificates?include_superseded=true&team_id=3&include_archived=true"
    )


def test_several_teams_of_such_a_user_are_plain_numbers_but_each_team_links() -> None:
    view = scope_view(stats(), heading="Your teams' certificates", base=None)
    assert all(f.href is None for f in view.expiring)
    assert view.revoked.href is None
    assert view.issued_href is None
    assert view.by_authority[0].href is None
    assert (
        view.by_team[0].href
        == "/certificates?include_superseded=true&team_id=3&include_archived=true"
    )


def test_the_histogram_splits_the_windows_into_buckets() -> None:
    view = scope_view(stats(Scope.ALL), heading="All certificates", base={})
    chart = ET.fromstring(str(view.histogram))
    assert chart.get("id") == "all-expiry-chart"
    assert chart.get("aria-label") == (
        "Certificates by days to expiry: 0-7 days 12 certificates; 8-30 days 28 certificates; "
        "31-90 days 60 certificates"
    )
    team_chart = ET.fromstring(str(view.team_chart))
    assert "Others 7 certificates" in (team_chart.get("aria-label") or "")
