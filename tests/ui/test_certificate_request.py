"""Request a certificate, the paved road: /certificates/new in Chromium against a real
`lemur serve`, with JavaScript (live name check) and without (the server checks the same).

The browser lands on /certificates/{id}?notice=issued (the certificate's page, with the next
steps), and that certificate, read through the API, carries what was asked."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from playwright.sync_api import Browser, BrowserContext, Page, expect

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.services import Services
from tests.api.certs_helpers import make_csr
from tests.peers.server import RunningServer, form_login
from tests.ui.support import add_user, assert_accessible, count_rows, log_in, server_container

pytestmark = pytest.mark.browser
LANDED = re.compile(r".*/certificates/(\d+)\?notice=issued$")


@pytest.fixture
def member(server: RunningServer) -> tuple[str, str, str]:
    """A member of one team (its own, so that the form preselects it)."""
    team = f"t{uuid.uuid4().hex[:8]}"
    name, password = add_user(server, teams=[team])
    return name, password, team


@pytest.fixture
def no_script(browser: Browser, server: RunningServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=server.base_url, viewport={"width": 1000, "height": 700}, java_script_enabled=False
    )
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def issued(page: Page) -> dict[str, Any]:
    """The certificate the browser landed on, read through the API as the same user."""
    page.wait_for_url(LANDED)
    expect(page.get_by_test_id("notice")).to_contain_text("was issued")
    found = LANDED.match(page.url)
    assert found, page.url
    response = page.request.get(f"/api/v1/certificates/{found.group(1)}")
    assert response.ok, response.text()
    body: dict[str, Any] = response.json()
    return body


def held_by_another_team(server: RunningServer, name: str) -> None:
    """A live certificate for ``name`` that belongs to a team the user is not in."""
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            accounts = services.accounts()
            team = accounts.create_team(f"other-{uuid.uuid4().hex[:6]}")
            authority = services.authorities().find("local-issuing-ca")
            services.issuance().issue(
                NewCertificate(team_id=team.id, authority_id=authority.id, dns_names=(name,))
            )
    finally:
        container.close()


def test_request_with_live_checks(
    page: Page, server: RunningServer, member: tuple[str, str, str]
) -> None:
    username, password, team = member
    shared = f"shared-{uuid.uuid4().hex[:6]}.example.test"
    held_by_another_team(server, shared)
    log_in(page, username, password)
    page.goto("/certificates/new")
    expect(page.get_by_role("heading", name="Request a certificate")).to_be_visible()
    # Sensible defaults: the only team, the default authority, the recommended key.
    expect(page.get_by_label("Team")).to_have_value(re.compile(r"\d+"))
    assert page.get_by_label("Team").locator("option:checked").inner_text() == team
    assert (
        page.get_by_label("Authority").locator("option:checked").inner_text().strip()
        == "local-issuing-ca"
    )
    expect(page.get_by_label("Key type")).to_have_value("ec-p256")
    expect(page.get_by_test_id("key-type-help")).to_contain_text("Recommended: ec-p256")
    expect(page.locator("#validity_days-help")).to_contain_text("at most 397 days")
    # The live check names the mistake next to the field, as it is typed.
    names = page.get_by_label("Names")
    names.fill("bad..name")
    error = page.get_by_test_id("name-report").get_by_test_id("name-error")
    expect(error).to_contain_text("empty label")
    expect(names).to_have_attribute("aria-invalid", "true")
    # Sent anyway, the server refuses it the same way, next to the field.
    page.get_by_test_id("submit").click()
    expect(page.locator("#names-error")).to_contain_text("empty label")
    expect(names).to_have_value("bad..name")
    assert_accessible(page)
    # Fixed: normalised, with the www partner offered; another team's name is flagged.
    names.fill(f"Shop.Example.Test.\n{shared}")
    report = page.get_by_test_id("name-report")
    expect(report.get_by_test_id("normalized").first).to_have_text("shop.example.test")
    expect(report.get_by_test_id("name-error")).to_have_count(0)
    expect(report.get_by_test_id("other-team")).to_have_count(1)
    expect(report.get_by_test_id("other-team")).to_contain_text("Another team")
    assert_accessible(page)
    names.fill("Shop.Example.Test.")
    page.get_by_role("button", name="Add www.shop.example.test").click()
    expect(names).to_have_value(re.compile(r"^Shop\.Example\.Test\.\nwww\.shop\.example\.test\n?$"))
    expect(report.get_by_test_id("name-item")).to_have_count(2)
    expect(page.get_by_role("button", name=re.compile("^Add www"))).to_have_count(0)
    page.get_by_test_id("submit").click()
    body = issued(page)
    # The certificate's page, with what to do next.
    expect(page.get_by_test_id("next-steps")).to_contain_text("Download it")
    assert body["names"] == ["shop.example.test", "www.shop.example.test"]
    assert body["team"]["name"] == team
    assert body["authority"]["name"] == "local-issuing-ca"
    assert (body["key_type"], body["key_size"]) == ("EC", 256)


def test_request_without_javascript(
    no_script: BrowserContext, server: RunningServer, member: tuple[str, str, str]
) -> None:
    username, password, team = member
    page = no_script.new_page()
    log_in(page, username, password)
    page.goto("/certificates/new")
    names = page.get_by_label("Names")
    names.fill("bad..name")
    page.get_by_label("Validity (days)").fill("30")
    page.get_by_test_id("submit").click()
    # The server's own check: the error next to the field, every value kept.
    expect(page.locator("#names-error")).to_contain_text("empty label")
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    expect(names).to_have_value("bad..name")
    expect(page.get_by_label("Validity (days)")).to_have_value("30")
    assert page.get_by_label("Team").locator("option:checked").inner_text() == team
    # Fixed, checked, and the suggestion taken, all by the server.
    names.fill("Shop.Example.Test.")
    page.get_by_role("button", name="Check names").click()
    expect(page.get_by_test_id("normalized")).to_have_text("shop.example.test")
    page.get_by_role("button", name="Add www.shop.example.test").click()
    expect(names).to_have_value("Shop.Example.Test.\nwww.shop.example.test")
    before = count_rows(server, "certificates")
    page.get_by_test_id("submit").click()
    body = issued(page)
    assert body["names"] == ["shop.example.test", "www.shop.example.test"]
    assert body["team"]["name"] == team
    validity = (
        x509.load_pem_x509_certificate(body["pem"].encode()).not_valid_after_utc
        - x509.load_pem_x509_certificate(body["pem"].encode()).not_valid_before_utc
    )
    assert validity.days == 30
    assert count_rows(server, "certificates") == before + 1


def test_subject_fields_and_usages_through_the_form(
    no_script: BrowserContext, server: RunningServer, member: tuple[str, str, str]
) -> None:
    username, password, _ = member
    page = no_script.new_page()
    log_in(page, username, password)
    page.goto("/certificates/new")
    page.get_by_label("Names").fill("pay.example.test")
    page.get_by_text("Advanced: subject fields and usages").click()
    page.get_by_label("Organization (O)").fill("Example Payments")
    page.get_by_label("Country (C)").fill("XY")
    page.get_by_label("client_auth").check()
    page.get_by_label("server_auth").check()
    page.get_by_test_id("submit").click()
    # The API's own refusal, next to its field; the choices kept.
    expect(page.locator("#subject\\.country-error")).to_contain_text("ISO 3166")
    expect(page.get_by_label("Organization (O)")).to_have_value("Example Payments")
    expect(page.get_by_label("client_auth")).to_be_checked()
    page.get_by_label("Country (C)").fill("de")
    page.get_by_test_id("submit").click()
    cert = x509.load_pem_x509_certificate(issued(page)["pem"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Example Payments"
    )
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_csr_instead_of_a_generated_key(
    no_script: BrowserContext,
    server: RunningServer,
    member: tuple[str, str, str],
    tmp_path: Path,
) -> None:
    username, password, _ = member
    csr = tmp_path / "app.csr"
    csr.write_text(make_csr(common_name="app.example.test", dns_names=("app.example.test",)))
    page = no_script.new_page()
    log_in(page, username, password)
    page.goto("/certificates/new")
    page.get_by_text("Use your own key (CSR)").click()
    page.get_by_label("CSR file").set_input_files(csr)
    page.get_by_test_id("submit").click()
    body = issued(page)
    assert body["names"] == ["app.example.test"]
    assert body["has_private_key"] is False


def test_a_double_submit_issues_once(server: RunningServer, member: tuple[str, str, str]) -> None:
    username, password, _ = member
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, username, password).status_code == 303
        page = client.get("/certificates/new").text
        fields = dict(re.findall(r'name="(csrf_token|submission)" value="([^"]+)"', page))
        team_id = re.search(r'<option value="(\d+)" selected>', page)
        authority_id = re.search(r'<option value="(\d+)" data-limits="[^"]*" selected>', page)
        assert team_id
        assert authority_id
        form = {
            "csrf_token": fields["csrf_token"],
            "submission": fields["submission"],
            "names": "twice.example.test",
            "team_id": team_id.group(1),
            "authority_id": authority_id.group(1),
            "key_type": "ec-p256",
            "profile": "server",
        }
        before = count_rows(server, "certificates")
        first = client.post("/certificates/new", data=form)
        second = client.post("/certificates/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert LANDED.match(first.headers["location"])
    assert count_rows(server, "certificates") == before + 1


def test_a_read_only_user_may_not_request(server: RunningServer) -> None:
    username, password = add_user(server, role=Role.READ_ONLY)
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, username, password).status_code == 303
        page = client.get("/certificates/new")
        assert page.status_code == 403
        assert "may not request certificates" in page.text
        home = client.get("/").text
    assert 'href="/certificates/new"' not in home
