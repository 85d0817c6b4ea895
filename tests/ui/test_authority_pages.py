"""The authority pages in Chromium against a real ``lemur serve`` (SQLite and PostgreSQL): an
admin creates an intermediate through the form (fixing a mistake on the way), finds it in
the list and its detail, deactivates it and the API then refuses it; an external CA is
imported from a file; a member sees no controls and is refused when posting anyway; the
plugins page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from lemur.accounts.models import Role, TokenScope
from lemur.accounts.service import load_principal
from lemur.authz import cli_principal
from lemur.services import Services
from tests.api.certs_helpers import make_ca, pem
from tests.peers.server import RunningServer
from tests.ui.support import add_user, assert_accessible, at_path, log_in, server_container

pytestmark = pytest.mark.browser
ROOT = "local-root-ca"


def api_token(server: RunningServer, username: str) -> str:
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            user = services.accounts().find_user(username)
            principal = load_principal(services.uow.read, user, via="cli")
            _, plaintext = services.tokens().create(
                principal, name="ui-test", scope=TokenScope.WRITE, expires_in_days=1
            )
    finally:
        container.close()
    return plaintext


def authority_id(page: Page) -> int:
    found = re.search(r"/authorities/(\d+)$", page.url)
    assert found, page.url
    return int(found.group(1))


def test_an_admin_creates_an_intermediate_sees_it_and_deactivates_it(
    page: Page, server: RunningServer
) -> None:
    name, password = add_user(server, role=Role.ADMIN, teams=["web"])
    log_in(page, name, password)
    page.goto("/authorities")
    assert_accessible(page)
    page.get_by_role("link", name="New authority").click()
    at_path(page, "/authorities/new")
    assert_accessible(page)
    # The issuer plugin and its (generated) options part are on the form; the script swaps
    # in another plugin's from the fragment, and without script "Show options" posts back.
    expect(page.get_by_label("Plugin")).to_have_value("local-ca")
    expect(page.get_by_test_id("plugin-options")).to_contain_text("local-ca plugin has no options")
    expect(page.get_by_role("button", name="Show options")).to_be_hidden()
    fragment = page.request.get("/authorities/new/options?plugin=local-ca")
    assert 'id="plugin-options"' in fragment.text()
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    shown = page.request.post(
        "/authorities/new",
        form={"csrf_token": csrf or "", "action": "show-options", "plugin": "local-ca",
              "name": "kept-name", "subject.common_name": "Kept"},
    )  # fmt: skip
    assert shown.status == 200
    assert 'value="kept-name"' in shown.text()
    assert "local-ca plugin has no options" in shown.text()

    # A mistake first: no name. The form comes back with the error and the values kept.
    page.get_by_label("Issued by").select_option(label=ROOT)
    page.get_by_label("Common name").fill("UI Payments CA")
    page.get_by_label("Permitted DNS domains").fill("payments.example.com")
    page.get_by_role("button", name="Create authority").click()
    at_path(page, "/authorities/new")
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    expect(page.locator("[data-field-error=name]")).to_be_visible()
    expect(page.get_by_label("Common name")).to_have_value("UI Payments CA")
    expect(page.get_by_label("Issued by")).to_have_value(re.compile(r"\d+"))
    assert_accessible(page)

    ca_name = f"ui-payments-{name[-6:]}"
    page.locator("#name").fill(ca_name)
    page.get_by_role("button", name="Create authority").click()
    page.wait_for_url(re.compile(r"/authorities/\d+$"))
    expect(page.get_by_role("status")).to_have_text(f"Authority {ca_name} was created.")
    new_id = authority_id(page)
    chain = page.get_by_test_id("chain").locator("li")
    expect(chain).to_have_count(2)
    expect(chain.nth(0)).to_contain_text("CN=UI Payments CA")
    expect(chain.nth(1)).to_contain_text("CN=Local Root CA")
    expect(page.get_by_text("permitted: DNS:payments.example.com").first).to_be_visible()
    published = page.get_by_test_id("published")
    expect(published.get_by_role("link", name=f"/crl/{new_id}.crl")).to_be_visible()
    expect(published.get_by_role("link", name=f"/ca/{new_id}.cer")).to_be_visible()
    expect(page.get_by_test_id("issued")).to_have_attribute(
        "href", f"/certificates?authority_id={new_id}"
    )
    assert_accessible(page)

    page.goto("/authorities")
    expect(page.locator("tr[data-authority='kept-name']")).to_have_count(0)
    row = page.locator(f"tr[data-authority='{ca_name}']")
    expect(row).to_contain_text("intermediate")
    expect(row).to_contain_text(f"below {ROOT}")
    expect(row).to_contain_text("active")

    page.goto(f"/authorities/{new_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("deactivate").click()
    expect(page.get_by_role("status")).to_contain_text(f"Authority {ca_name} is deactivated")
    expect(page.get_by_test_id("inactive-note")).to_be_visible()
    expect(page.get_by_test_id("activate")).to_be_visible()
    expect(page.get_by_test_id("deactivate")).to_have_count(0)

    token = api_token(server, name)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        team_id = next(t["id"] for t in api.get("/api/v1/teams").json() if t["name"] == "web")
        refused = api.post(
            "/api/v1/certificates",
            json={
                "team_id": team_id,
                "authority_id": new_id,
                "subject_alternative_names": {"dns_names": ["api.payments.example.com"]},
            },
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "authority_inactive"
        assert api.get(f"/crl/{new_id}.crl").status_code == 200


def test_an_admin_imports_an_external_ca_from_a_file(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    name, password = add_user(server, role=Role.SECURITY)
    log_in(page, name, password)
    page.goto("/authorities/import")
    assert_accessible(page)
    ca_file = tmp_path / "partner.pem"
    ca_file.write_text(pem(make_ca(f"Partner Root {name}")[1]))
    page.locator("#name").fill(f"partner-{name[-6:]}")
    page.get_by_label("Or a file (PEM or DER)").set_input_files(str(ca_file))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/authorities/\d+$"))
    expect(page.get_by_role("status")).to_have_text(f"Authority partner-{name[-6:]} was imported.")
    expect(page.get_by_text("external CA, imported without its key")).to_be_visible()
    expect(page.get_by_test_id("published")).to_contain_text("Not published here")
    expect(page.get_by_test_id("chain").locator("li")).to_have_count(1)
    assert_accessible(page)


def test_a_member_sees_no_controls_and_a_post_anyway_is_refused(
    page: Page, server: RunningServer
) -> None:
    name, password = add_user(server, role=Role.MEMBER, teams=["web"])
    log_in(page, name, password)
    page.goto("/authorities")
    expect(page.locator(f"tr[data-authority='{ROOT}']")).to_be_visible()
    expect(page.get_by_role("link", name="New authority")).to_have_count(0)
    expect(page.get_by_role("link", name="Import a CA")).to_have_count(0)
    page.locator(f"tr[data-authority='{ROOT}']").get_by_role("link", name=ROOT, exact=True).click()
    page.wait_for_url(re.compile(r"/authorities/\d+$"))
    root_id = authority_id(page)
    expect(page.get_by_test_id("deactivate")).to_have_count(0)
    assert_accessible(page)

    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert csrf
    response = page.goto("/authorities/new")
    assert response is not None
    assert response.status == 403
    posted = page.request.post(
        f"/authorities/{root_id}/deactivate", form={"csrf_token": csrf}, max_redirects=0
    )
    assert posted.status == 403
    created = page.request.post(
        "/authorities/new",
        form={"csrf_token": csrf, "name": "member-ca", "subject.common_name": "Member CA"},
        max_redirects=0,
    )
    assert created.status == 403
    page.goto(f"/authorities/{root_id}")
    expect(page.locator("h1 .badge-active")).to_be_visible()
    expect(page.get_by_test_id("inactive-note")).to_have_count(0)
    page.goto("/authorities")
    expect(page.locator("tr[data-authority='member-ca']")).to_have_count(0)


def test_the_plugins_page_lists_each_kind_with_its_options(
    page: Page, server: RunningServer
) -> None:
    name, password = add_user(server, role=Role.READ_ONLY)
    log_in(page, name, password)
    page.goto("/plugins")
    for heading in ("Issuers", "Exporters", "Notifiers"):
        expect(page.get_by_role("heading", level=2, name=heading)).to_be_visible()
    local = page.locator("article[data-plugin=local-ca]")
    expect(local).to_contain_text("create_authority")
    email = page.locator("article[data-plugin=email]")
    password_row = email.locator("tr", has=page.locator("td", has_text=re.compile("^password$")))
    expect(password_row).to_contain_text("secret")
    expect(password_row).to_contain_text("optional")
    host_row = email.locator("tr", has=page.locator("td", has_text=re.compile("^host$")))
    expect(host_row).to_contain_text("required")
    assert_accessible(page)
