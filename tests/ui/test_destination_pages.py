"""The destination and deployment pages in Chromium against a real ``lemur serve`` (SQLite
and PostgreSQL: the pages read with their own queries, lemur.ui.destination_queries).

A destination of the ``directory`` plugin is made through its form (a real directory on
this machine), checked, edited, given endpoints; a certificate requested with it is
deployed there by the server's own job runner (the page is reloaded until the state says
so), and its blast radius lists it. A read-only user sees no write control and is refused
when posting anyway."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.services import Services
from tests.api.certs_helpers import make_csr
from tests.peers.server import RunningServer
from tests.ui.support import (
    add_user,
    assert_accessible,
    at_path,
    count_rows,
    log_in,
    server_container,
)

pytestmark = pytest.mark.browser
DETAIL = re.compile(r".*/destinations/(\d+)$")
LANDED = re.compile(r".*/certificates/(\d+)\?notice=issued$")
# Seconds to wait for the embedded job runner to deploy a certificate.
DEPLOY_TIMEOUT = 60


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def _issue(server: RunningServer, team: str) -> int:
    """A certificate of ``team`` (created when missing) with a key held by Lemur."""
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            found = services.accounts().find_team(team)
            authority = services.authorities().find("local-issuing-ca")
            issued = services.issuance().issue(
                NewCertificate(
                    team_id=found.id,
                    authority_id=authority.id,
                    dns_names=(f"{_unique('svc')}.example.test",),
                )
            )
            return int(issued.certificate.id)  # type: ignore[union-attr]
    finally:
        container.close()


def create_destination(page: Page, name: str, directory: Path, endpoints: str = "") -> int:
    """A ``directory`` destination made through /destinations/new; its id."""
    page.goto("/destinations/new")
    page.locator('input[name="plugin"][value="directory"]').check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/destinations/new\?plugin=directory$"))
    page.locator("#name").fill(name)
    page.locator('[name="options.directory"]').fill(str(directory))
    page.locator("#endpoints").fill(endpoints)
    page.get_by_role("button", name="Create destination").click()
    page.wait_for_url(DETAIL)
    found = DETAIL.match(page.url)
    assert found, page.url
    return int(found.group(1))


def wait_for_state(page: Page, destination: str, state: str) -> None:
    """Reload the certificate's page until the deployment there is in ``state``."""
    row = page.locator(f'tr[data-deployment="{destination}"] [data-testid="deployment-state"]')
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while True:
        shown = row.inner_text().strip()
        if shown == state.replace("_", " "):
            return
        assert time.monotonic() < deadline, f"deployment still {shown!r}, not {state!r}"
        time.sleep(0.5)
        page.reload()


def test_the_pages_render_before_any_destination_exists(page: Page, server: RunningServer) -> None:
    team = _unique("web")
    admin, password = add_user(server, role=Role.ADMIN, teams=[team])
    cert_id = _issue(server, team)
    log_in(page, admin, password)

    page.get_by_role("link", name="Destinations").click()
    at_path(page, "/destinations")
    expect(page.get_by_role("heading", name="Destinations")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="New destination").click()
    at_path(page, "/destinations/new")
    assert_accessible(page)

    page.goto(f"/certificates/{cert_id}")
    panel = page.get_by_test_id("deployments")
    expect(panel).to_contain_text("Not deployed anywhere by Lemur.")
    assert_accessible(page)
    panel.get_by_role("link", name="Blast radius").click()
    at_path(page, f"/certificates/{cert_id}/blast-radius")
    expect(page.get_by_test_id("blast-summary")).to_have_text("0 destinations, 0 endpoints.")
    assert_accessible(page)


def test_a_read_only_user_sees_no_write_controls_and_is_refused(
    page: Page, server: RunningServer
) -> None:
    team = _unique("ops")
    reader, password = add_user(server, role=Role.READ_ONLY, teams=[team])
    cert_id = _issue(server, team)
    log_in(page, reader, password)

    page.goto("/destinations")
    expect(page.get_by_role("heading", name="Destinations")).to_be_visible()
    expect(page.get_by_role("link", name="New destination")).to_have_count(0)
    response = page.goto("/destinations/new")
    assert response is not None
    assert response.status == 403

    page.goto(f"/certificates/{cert_id}")
    panel = page.get_by_test_id("deployments")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button")).to_have_count(0)
    expect(panel.get_by_label("Add destination")).to_have_count(0)
    assert_accessible(page)

    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    before = count_rows(server, "deployments"), count_rows(server, "destinations")
    for path, form in (
        (f"/certificates/{cert_id}/deploy", {}),
        (f"/certificates/{cert_id}/destinations", {"destination_id": "1"}),
        (f"/certificates/{cert_id}/destinations/1/remove", {}),
        ("/destinations/new", {"plugin": "directory", "name": _unique("sneaky")}),
        ("/destinations/1/check", {}),
        ("/destinations/1/delete", {}),
    ):
        answer = page.request.post(path, form={"csrf_token": csrf, **form}, max_redirects=0)
        assert answer.status == 403, (path, answer.status)
    assert (count_rows(server, "deployments"), count_rows(server, "destinations")) == before


def test_a_directory_destination_is_made_checked_edited_and_deleted(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    admin, password = add_user(server, role=Role.ADMIN)
    log_in(page, admin, password)
    name = _unique("files")

    page.goto("/destinations/new")
    assert_accessible(page)
    page.locator('input[name="plugin"][value="directory"]').check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/destinations/new\?plugin=directory$"))
    assert_accessible(page)

    # A line that is not an endpoint is shown next to the textarea; the values are kept.
    page.locator("#name").fill(name)
    page.locator('[name="options.directory"]').fill(str(tmp_path))
    page.locator("#endpoints").fill("127.0.0.1:8443 www.example.test\nexample.test:https")
    page.get_by_role("button", name="Create destination").click()
    expect(page.locator('[data-field-error="endpoints"]')).to_contain_text("Line 2")
    expect(page.locator("#name")).to_have_value(name)
    expect(page.locator('[name="options.directory"]')).to_have_value(str(tmp_path))
    assert_accessible(page)
    page.locator("#endpoints").fill("127.0.0.1:8443 www.example.test")
    page.get_by_role("button", name="Create destination").click()
    page.wait_for_url(DETAIL)
    expect(page.get_by_test_id("notice")).to_contain_text(f"Destination {name} was created")
    expect(page.get_by_test_id("options")).to_contain_text(str(tmp_path))
    endpoints = page.get_by_test_id("endpoints")
    expect(endpoints).to_contain_text("127.0.0.1:8443 (SNI www.example.test)")
    assert_accessible(page)
    detail = page.url

    page.get_by_role("button", name="Check connection").click()
    expect(page.get_by_test_id("check-result")).to_contain_text("Connection OK")
    assert_accessible(page)

    # Endpoints: a bad one is refused next to its input, a listener is added, then removed.
    page.goto(detail)
    page.get_by_label("New endpoint").fill("[2001:db8::1]:http")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator('[data-field-error="endpoint"]')).to_contain_text("port")
    page.get_by_label("New endpoint").fill("elb:web:443")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator('tr[data-endpoint="elb:web:443"]')).to_be_visible()
    page.once("dialog", _accept)
    page.locator('tr[data-endpoint="elb:web:443"]').get_by_role("button", name="Remove").click()
    expect(page.get_by_test_id("notice")).to_contain_text("The endpoint was removed.")
    expect(page.locator('tr[data-endpoint="elb:web:443"]')).to_have_count(0)

    page.get_by_role("link", name="Edit options").click()
    expect(page.locator('[name="options.directory"]')).to_have_value(str(tmp_path))
    assert_accessible(page)
    page.locator("#description").fill("the web servers' certificate directory")
    page.get_by_role("button", name="Save destination").click()
    page.wait_for_url(DETAIL)
    expect(page.get_by_test_id("notice")).to_contain_text(f"Destination {name} was saved.")

    page.goto("/destinations")
    row = page.locator(f'tr[data-destination="{name}"]')
    expect(row).to_contain_text("directory")
    expect(row).to_contain_text("any team")
    expect(row).to_contain_text("the web servers' certificate directory")
    assert_accessible(page)

    page.goto(detail)
    page.once("dialog", _accept)
    page.get_by_role("button", name=f"Delete destination {name}").click()
    at_path(page, "/destinations")
    expect(page.get_by_test_id("notice")).to_contain_text(f"Destination {name} was deleted.")
    expect(page.locator(f'tr[data-destination="{name}"]')).to_have_count(0)


def test_a_certificate_requested_with_a_destination_is_deployed_there(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    team = _unique("web")
    admin, password = add_user(server, role=Role.ADMIN, teams=[team])
    log_in(page, admin, password)
    destination = _unique("files")
    destination_id = create_destination(page, destination, tmp_path)

    # A CSR leaves Lemur no key to deploy: refused next to the destinations.
    page.goto("/certificates/new")
    picker = page.get_by_role("group", name="Deploy to")
    expect(picker).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Team").select_option(label=team)
    picker.get_by_label(re.compile(f"^{destination} ")).check()
    page.locator("details.csr summary").click()
    page.get_by_label("Or paste the CSR (PEM)").fill(
        make_csr(common_name="csr.example.test", dns_names=("csr.example.test",))
    )
    page.get_by_role("button", name="Request certificate").click()
    expect(page.locator('[data-field-error="destinations"]')).to_contain_text("key")
    page.get_by_label("Or paste the CSR (PEM)").fill("")

    host = f"{_unique('svc')}.example.test"
    page.get_by_label("Names").fill(host)
    page.get_by_role("group", name="Deploy to").get_by_label(re.compile(f"^{destination} ")).check()
    page.get_by_role("button", name="Request certificate").click()
    page.wait_for_url(LANDED)
    landed = LANDED.match(page.url)
    assert landed
    cert_id = int(landed.group(1))

    panel = page.get_by_test_id("deployments")
    expect(panel.locator(f'tr[data-deployment="{destination}"]')).to_be_visible()
    wait_for_state(page, destination, "deployed")
    assert any(tmp_path.iterdir()), "nothing was placed in the directory"
    assert_accessible(page)

    page.get_by_test_id("blast-radius-link").click()
    at_path(page, f"/certificates/{cert_id}/blast-radius")
    expect(page.get_by_test_id("blast-radius")).to_contain_text(destination)
    assert_accessible(page)

    # The destination lists the certificate, and cannot be deleted while it is there.
    page.goto(f"/destinations/{destination_id}")
    expect(page.get_by_test_id("deployed")).to_contain_text(host)
    page.once("dialog", _accept)
    page.get_by_role("button", name=f"Delete destination {destination}").click()
    expect(page.get_by_test_id("delete-form")).to_contain_text("still has 1 certificate")

    # Deploy again, remove, add back: each from the certificate's page.
    page.goto(f"/certificates/{cert_id}")
    page.get_by_test_id("deploy-again").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"Deployment queued to {destination}")
    wait_for_state(page, destination, "deployed")
    page.once("dialog", _accept)
    page.get_by_test_id(f"remove-{destination}").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"removed from {destination}")
    wait_for_state(page, destination, "removed")
    page.get_by_label("Add destination").select_option(label=f"{destination} (directory)")
    page.get_by_role("button", name="Deploy there").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"Deployment queued to {destination}")
    wait_for_state(page, destination, "deployed")
