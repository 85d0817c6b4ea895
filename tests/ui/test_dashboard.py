"""The dashboard (``/``) in Chromium against a real ``lemur serve`` (SQLite and PostgreSQL):
the figures a user sees after certificates are issued and revoked, each user's scope, the
charts, the inventory links that list exactly what a figure counts, and accessibility."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.crypto.revocation import RevocationReason
from lemur.services import Services
from tests.conftest import scratch_database
from tests.peers.server import RunningServer, start_server
from tests.ui.support import add_user, assert_accessible, at_path, log_in, server_container

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """As tests/ui/conftest.py's, with the figures counted for every request (no reuse for
    30 s), so that a page shows what was just issued."""
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    env = {"LEMUR_STATISTICS_MAX_AGE_SECONDS": "0"}
    if request.param == "sqlite":
        running = start_server(data_dir, env=env, timeout=120)
        yield running
        running.stop()
        return
    with scratch_database("lemur_ui") as url:
        running = start_server(data_dir, env={**env, "LEMUR_DATABASE_URL": url}, timeout=120)
        yield running
        running.stop()


def team_name() -> str:
    return f"dash-{uuid.uuid4().hex[:8]}"


def issue(server: RunningServer, team: str, name: str, validity_days: int) -> int:
    """A certificate from the issuing CA, issued in the server's own database as an
    operator at the console would (`lemur` acting as cli)."""
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            team_id = services.accounts().find_team(team).id
            ca = services.authorities().find("local-issuing-ca")
            return (
                services.issuance()
                .issue(
                    NewCertificate(
                        team_id=team_id,
                        authority_id=ca.id,
                        common_name=name,
                        validity_days=validity_days,
                    )
                )
                .certificate.id
            )
    finally:
        container.close()


def revoke(server: RunningServer, cert_id: int) -> None:
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            services.revocation().revoke(cert_id, reason=RevocationReason.KEY_COMPROMISE)
    finally:
        container.close()


def listed(page: Page, href: str) -> set[str]:
    """The common names the list API answers for a dashboard link's query, as this user."""
    query = httpx.URL(href).query.decode()
    response = page.request.get(f"/api/v1/certificates?{query}&limit=200")
    assert response.ok, response.text()
    return {item["common_name"] for item in response.json()["items"]}


def test_a_member_sees_the_figures_of_their_team(page: Page, server: RunningServer) -> None:
    team = team_name()
    name, password = add_user(server, teams=[team])
    soon = [issue(server, team, f"soon-{n}.{team}.example.com", 5) for n in range(3)]
    issue(server, team, f"month.{team}.example.com", 20)
    issue(server, team, f"quarter.{team}.example.com", 60)
    revoke(server, soon[0])
    other = team_name()
    add_user(server, teams=[other])
    issue(server, other, f"theirs.{other}.example.com", 5)

    log_in(page, name, password)
    at_path(page, "/")
    mine = page.get_by_test_id("scope-mine")
    expect(mine.get_by_role("heading", level=2)).to_have_text("Your teams' certificates (5)")
    # Expiring: not revoked; soon-1 and soon-2 in 5 days, month in 20, quarter in 60.
    expect(page.get_by_test_id("mine-expiring-7")).to_have_text("2")
    expect(page.get_by_test_id("mine-expiring-30")).to_have_text("3")
    expect(page.get_by_test_id("mine-expiring-90")).to_have_text("4")
    expect(page.get_by_test_id("mine-issued-7")).to_have_text("5")
    expect(page.get_by_test_id("mine-revoked")).to_have_text("1")
    expect(page.get_by_test_id("mine-status-revoked")).to_have_text("1")
    expect(page.get_by_test_id("mine-status-valid")).to_have_text("4")
    revoked_rows = page.get_by_test_id("mine-recently-revoked").locator("tbody tr")
    expect(revoked_rows).to_have_count(1)
    expect(revoked_rows).to_contain_text(f"soon-0.{team}.example.com")
    expect(revoked_rows).to_contain_text("key compromise")
    expect(page.get_by_test_id("mine-newest").locator("tbody tr")).to_have_count(5)
    by_team = page.get_by_test_id("mine-by-team")
    expect(by_team.locator("tbody tr")).to_have_count(1)
    expect(by_team.locator("tbody tr")).to_have_text(f"{team}5")
    # The other team's certificate is nowhere, and a member sees no "all" figures.
    expect(page.get_by_text(f"theirs.{other}.example.com")).to_have_count(0)
    expect(page.get_by_test_id("scope-all")).to_have_count(0)

    # A figure's link lists, in the inventory, exactly the certificates it counts.
    link = page.get_by_test_id("mine-expiring-30")
    href = link.get_attribute("href") or ""
    assert href == "/certificates?status=expiring&expiring_within_days=30&include_archived=true"
    assert listed(page, href) == {
        f"soon-1.{team}.example.com",
        f"soon-2.{team}.example.com",
        f"month.{team}.example.com",
    }
    revoked_href = page.get_by_test_id("mine-revoked").get_attribute("href") or ""
    assert listed(page, revoked_href) == {f"soon-0.{team}.example.com"}

    # The charts: images whose names carry the numbers.
    chart = page.locator("#mine-team-chart")
    expect(chart).to_have_attribute("role", "img")
    expect(chart).to_have_attribute(
        "aria-label", f"Certificates not yet expired, by team: {team} 5 certificates"
    )
    expect(page.locator("#mine-expiry-chart")).to_have_attribute(
        "aria-label",
        "Certificates by days to expiry: 0-7 days 2 certificates; 8-30 days 1 certificate; "
        "31-90 days 1 certificate",
    )
    assert_accessible(page)

    # Following it, the inventory page shows those three.
    link.click()
    at_path(page, "/certificates")
    rows = page.get_by_test_id("certificate-row")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text=f"month.{team}.example.com")).to_have_count(1)


def test_security_sees_their_teams_and_every_certificate(page: Page, server: RunningServer) -> None:
    team = team_name()
    name, password = add_user(server, role=Role.SECURITY, teams=[team])
    issue(server, team, f"one.{team}.example.com", 10)

    log_in(page, name, password)
    at_path(page, "/")
    expect(page.get_by_test_id("scope-mine")).to_be_visible()
    everything = page.get_by_test_id("scope-all")
    expect(everything.get_by_role("heading", level=2)).to_contain_text("All certificates")
    expect(page.get_by_test_id("mine-expiring-30")).to_have_text("1")
    # One team: the figures of "mine" link to that team's part of the inventory.
    href = page.get_by_test_id("mine-expiring-30").get_attribute("href") or ""
    assert href.startswith("/certificates?team_id=")
    assert listed(page, href) == {f"one.{team}.example.com"}
    # Every certificate: at least this one and the two CAs of `lemur init`.
    all_total = int(everything.get_by_role("heading", level=2).inner_text().split("(")[1][:-1])
    assert all_total >= 3
    rows = page.get_by_test_id("all-by-team").locator("tbody tr")
    expect(rows.filter(has_text=team)).to_have_text(f"{team}1")
    team_link = rows.filter(has_text=team).get_by_role("link")
    assert listed(page, team_link.get_attribute("href") or "") == {f"one.{team}.example.com"}
    authorities = page.get_by_test_id("all-by-authority")
    expect(authorities).to_contain_text("local-issuing-ca")
    expect(authorities).to_contain_text("local-root-ca")  # the issuing CA's own certificate
    assert_accessible(page)


def test_a_read_only_user_without_a_team_sees_every_certificate(
    page: Page, server: RunningServer
) -> None:
    name, password = add_user(server, role=Role.READ_ONLY)
    log_in(page, name, password)
    at_path(page, "/")
    expect(page.get_by_test_id("teams")).to_contain_text("none yet")
    expect(page.get_by_test_id("scope-mine")).to_have_count(0)
    expect(page.get_by_test_id("scope-all")).to_be_visible()
    expect(page.get_by_test_id("all-as-of")).to_contain_text("Figures as of")
    assert_accessible(page)


def test_the_dashboard_fits_a_phone(page: Page, server: RunningServer) -> None:
    team = team_name()
    name, password = add_user(server, role=Role.ADMIN, teams=[team])
    issue(server, team, f"phone.{team}.example.com", 30)
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page, name, password)
    at_path(page, "/")
    expect(page.get_by_test_id("mine-expiring-30")).to_have_text("1")
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    assert_accessible(page)
