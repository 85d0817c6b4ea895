"""The certificate edit page and archiving in Chromium against a real ``lemur serve``: the
team choice limited to teams the user may move to, an error shown next to its field with
the values kept, the saved settings (on the certificate's page and in the API's JSON),
archiving, and the archived certificate gone from ``GET /api/v1/certificates``; no serious
accessibility violation on the form, with and without errors; a read-only user is refused
the page and the post. On SQLite and PostgreSQL (tests/ui/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.services import Services
from tests.peers.server import RunningServer, form_login
from tests.ui.support import add_user, assert_accessible, at_path, log_in, server_container


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


def issue(server: RunningServer, team: str, name: str) -> int:
    """A certificate of ``team`` in the server's own database."""
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            team_id = services.accounts().find_team(team).id
            authority_id = services.authorities().find("local-issuing-ca").id
            view = services.issuance().issue(
                NewCertificate(
                    team_id=team_id,
                    authority_id=authority_id,
                    common_name=name,
                    dns_names=(name,),
                )
            )
            return view.certificate.id
    finally:
        container.close()


def api(page: Page, path: str) -> Any:
    """The API's JSON, fetched with the browser's own session."""
    response = page.request.get(path)
    assert response.status == 200, response.text()
    return response.json()


def test_edit_team_description_and_notifications_then_archive(
    page: Page, server: RunningServer
) -> None:
    add_user(server, teams=["foreign"])  # a team the member is not in
    name, password = add_user(server, teams=["payments", "search"])
    cert_id = issue(server, "payments", "ledger.example.com")
    log_in(page, name, password)
    at_path(page, "/")

    page.goto(f"/certificates/{cert_id}")
    page.get_by_role("link", name="Edit", exact=True).click()
    at_path(page, f"/certificates/{cert_id}/edit")
    expect(page.get_by_role("heading", name="Edit ledger.example.com")).to_be_visible()
    teams = {t["name"]: str(t["id"]) for t in api(page, "/api/v1/teams")}
    team = page.get_by_label("Team")
    assert team.locator("option").all_inner_texts() == ["payments", "search"]
    expect(team).to_have_value(teams["payments"])
    expect(page.get_by_label("Send notifications about this certificate")).to_be_checked()
    assert_accessible(page)

    # Too long: the error shows next to the description, and what was typed stays.
    team.select_option(label="search")
    description = page.get_by_label("Description")
    description.evaluate("el => el.removeAttribute('maxlength')")
    description.fill("x" * 1001)
    page.get_by_role("button", name="Save").click()
    at_path(page, f"/certificates/{cert_id}/edit")
    expect(page.locator('[data-field-error="description"]')).to_have_text(
        "Use at most 1000 characters."
    )
    expect(page.get_by_label("Description")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Team")).to_have_value(teams["search"])
    assert len(page.get_by_label("Description").input_value()) == 1001
    assert_accessible(page)
    assert api(page, f"/api/v1/certificates/{cert_id}")["team"]["name"] == "payments"

    page.get_by_label("Description").fill("General ledger API\nOn call: payments")
    page.get_by_label("Send notifications about this certificate").uncheck()
    page.get_by_role("button", name="Save").click()
    at_path(page, f"/certificates/{cert_id}")
    # The certificate's page says so and shows the new description.
    expect(page.get_by_test_id("notice")).to_have_text("Certificate saved.")
    expect(page.get_by_test_id("facts").get_by_text("General ledger API")).to_be_visible()
    saved = api(page, f"/api/v1/certificates/{cert_id}")
    assert saved["team"]["name"] == "search"
    assert saved["description"] == "General ledger API\nOn call: payments"
    assert saved["notify"] is False
    assert saved["mute"]["muted_by"] == f"user:{name}"
    assert saved["history"][0]["action"] == "certificate.update"

    # The form shows what is stored now.
    page.goto(f"/certificates/{cert_id}/edit")
    expect(page.get_by_label("Description")).to_have_value("General ledger API\nOn call: payments")
    expect(page.get_by_label("Send notifications about this certificate")).not_to_be_checked()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("archive").click()
    at_path(page, f"/certificates/{cert_id}")
    expect(page.get_by_test_id("notice")).to_contain_text("Certificate archived")
    archived = api(page, f"/api/v1/certificates/{cert_id}")
    assert archived["archived_at"] is not None
    assert archived["archived_by"] == f"user:{name}"
    listed = api(page, "/api/v1/certificates")
    assert cert_id not in [item["id"] for item in listed["items"]]
    everything = api(page, "/api/v1/certificates?include_archived=true")
    assert cert_id in [item["id"] for item in everything["items"]]

    page.goto(f"/certificates/{cert_id}/edit")
    expect(page.get_by_test_id("archived-note")).to_contain_text("Archived")
    page.get_by_test_id("unarchive").click()
    at_path(page, f"/certificates/{cert_id}")
    expect(page.get_by_test_id("notice")).to_contain_text("brought back from the archive")
    assert api(page, f"/api/v1/certificates/{cert_id}")["archived_at"] is None


def test_read_only_users_get_no_form_and_are_refused_if_they_post(
    page: Page, server: RunningServer
) -> None:
    add_user(server, teams=["payments"])
    cert_id = issue(server, "payments", "readonly.example.com")
    name, password = add_user(server, role=Role.READ_ONLY)
    log_in(page, name, password)
    at_path(page, "/")
    page.goto(f"/certificates/{cert_id}/edit")
    expect(page.get_by_role("heading", name="You may not do this")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)

    with httpx.Client(base_url=server.base_url) as browser:
        assert form_login(browser, name, password).status_code == 303
        home = browser.get("/").text
        found = re.search(r'name="csrf-token" content="([^"]+)"', home)
        assert found is not None
        for path in (f"/certificates/{cert_id}/edit", f"/certificates/{cert_id}/archive"):
            r = browser.post(path, data={"csrf_token": found.group(1), "description": "mine now"})
            assert r.status_code == 403, (path, r.text)
            assert "You may not do this" in r.text
        assert browser.get(f"/api/v1/certificates/{cert_id}").json()["description"] is None
        assert browser.get(f"/api/v1/certificates/{cert_id}").json()["archived_at"] is None
