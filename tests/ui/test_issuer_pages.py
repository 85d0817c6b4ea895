"""The pages of CAs reached through an issuer plugin, in Chromium against a real ``lemur
serve`` (SQLite only: the API tests cover PostgreSQL) and the real ACME CA of
tests/peers/pebble.py (Pebble + BIND9):

- an admin connects an ACME authority through "Connect a CA" (the acme options form swapped
  in by the script), checks the connection and edits the options (secrets left empty kept);
- a wrong directory URL is reported next to the form, the values kept, nothing created;
- a member requests a certificate from it: the request page follows it, pending then issued
  (Pebble validates HTTP-01 against the server itself, which the embedded runner polls);
- a pending request is cancelled (a read-only user sees no Cancel button and is refused);
- without script, "Show options" brings the acme options with a round trip.
"""

from __future__ import annotations

import http.server
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from lemur.accounts.models import Role
from lemur.authorities.schemas import AuthorityCreate
from lemur.authz import cli_principal
from lemur.services import Services
from tests.issuers.acme.conftest import base_options
from tests.peers.pebble import PebblePeer
from tests.peers.server import RunningServer, free_port
from tests.ui.support import add_user, assert_accessible, count_rows, log_in, server_container

pytestmark = pytest.mark.browser
REQUEST_PAGE = re.compile(r".*/requests/(\d+)$")
AUTHORITY_PAGE = re.compile(r".*/authorities/(\d+)$")
TEAM = "web"


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only (docs/decisions/0022: these pages add no query the API suite does not
    run on both databases); its embedded runner polls the requests."""
    return sqlite_server


@pytest.fixture(scope="module")
def forwarding(pebble: PebblePeer, server: RunningServer) -> Iterator[PebblePeer]:
    """Pebble's HTTP-01 validation answered by the server itself (it serves
    /.well-known/acme-challenge/{token} from its database)."""
    before, pebble.http01_target = pebble.http01_target, server.base_url
    yield pebble
    pebble.http01_target = before


@pytest.fixture(scope="module")
def acme_authority(server: RunningServer, pebble: PebblePeer) -> dict[str, Any]:
    """An ACME authority on Pebble (http-01), created as the API would: name and id."""
    name = f"pebble-{uuid.uuid4().hex[:6]}"
    body = AuthorityCreate.model_validate(
        {"name": name, "plugin": "acme", "options": base_options(pebble, challenge="http-01")}
    )
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            created = services.authorities().create_remote(body.to_remote_spec())
    finally:
        container.close()
    return {"name": name, "id": created.id}


@pytest.fixture(scope="module")
def member(server: RunningServer) -> tuple[str, str]:
    return add_user(server, role=Role.MEMBER, teams=[TEAM])


def account_key_lines(server: RunningServer, authority_id: int) -> list[str]:
    """The base64 lines of the account key Lemur registered (decrypted from its store)."""
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            gateway = services.authority_gateway
            authority = gateway.get(services.uow.read, authority_id)
            assert authority is not None
            stored = gateway.stored_options(authority)
    finally:
        container.close()
    key = getattr(stored, "account_key", None)
    assert key is not None, "connecting stored no account key"
    return [line for line in key.get_secret_value().splitlines() if "-----" not in line]


def new_context(browser: Browser, server: RunningServer, *, script: bool = True) -> BrowserContext:
    ctx = browser.new_context(
        base_url=server.base_url,
        viewport={"width": 1000, "height": 700},
        java_script_enabled=script,
    )
    ctx.set_default_timeout(10_000)
    return ctx


def field(page: Page, name: str) -> Locator:
    """An input by its id (plugin options have dotted ids: options.directory_url)."""
    return page.locator(f'[id="{name}"]')


def fill_acme_options(page: Page, pebble: PebblePeer, *, directory_url: str) -> None:
    field(page, "options.directory_url").fill(directory_url)
    field(page, "options.ca_bundle").fill(pebble.ca_bundle_pem)
    field(page, "options.contact_email").fill("pki-team@example.org")
    page.get_by_label("Agree to the terms of service").check()
    field(page, "options.challenge").select_option("http-01")


def request_certificate(page: Page, authority: str, name: str) -> int:
    """Ask for ``name`` from ``authority`` on /certificates/new; the browser is led to the
    request's page (the CA answers later): its id."""
    page.goto("/certificates/new")
    page.get_by_test_id("names").fill(name)
    page.get_by_label("Authority").select_option(label=authority)
    page.get_by_test_id("submit").click()
    page.wait_for_url(REQUEST_PAGE)
    expect(page.get_by_test_id("notice")).to_contain_text(f"Your request for {name} is pending")
    found = REQUEST_PAGE.match(page.url)
    assert found, page.url
    return int(found.group(1))


def test_an_admin_connects_an_acme_ca_checks_it_and_edits_its_options(
    page: Page, server: RunningServer, pebble: PebblePeer
) -> None:
    admin, password = add_user(server, role=Role.ADMIN)
    log_in(page, admin, password)
    page.goto("/authorities")
    page.get_by_role("link", name="Connect a CA").click()
    page.wait_for_url(re.compile(r".*/authorities/connect$"))
    expect(page.get_by_role("heading", name="Connect a CA")).to_be_visible()
    # The script swaps in the chosen plugin's options (generated from its JSON Schema).
    expect(page.get_by_role("button", name="Show options")).to_be_hidden()
    page.get_by_label("Kind of CA").select_option("acme")
    expect(page.get_by_test_id("plugin-options")).to_have_attribute("data-plugin", "acme")
    expect(field(page, "options.directory_url")).to_be_visible()
    # PEM goes into textareas: a single-line input would drop its line breaks.
    expect(page.locator('textarea[id="options.ca_bundle"]')).to_be_visible()
    expect(page.locator('textarea[id="options.account_key"]')).to_have_attribute(
        "autocomplete", "off"
    )
    expect(field(page, "options.eab_hmac_key")).to_have_attribute("type", "password")
    assert_accessible(page)

    name = f"acme-{uuid.uuid4().hex[:6]}"
    page.locator("#name").fill(name)
    fill_acme_options(page, pebble, directory_url=pebble.directory_url)
    page.get_by_role("button", name="Connect and create").click()
    page.wait_for_url(AUTHORITY_PAGE)
    expect(page.get_by_test_id("notice")).to_have_text(
        f"Authority {name} was created: Lemur reached its CA."
    )
    expect(page.locator(".facts").first).to_contain_text("a CA reached through acme")
    found = AUTHORITY_PAGE.match(page.url)
    assert found, page.url
    authority_id = int(found.group(1))
    options = page.get_by_test_id("plugin-options")
    expect(options).to_contain_text(pebble.directory_url)
    expect(options).to_contain_text("pki-team@example.org")
    # The account Lemur registered: its key is set, never shown.
    account_key = options.locator("dt", has_text="account_key").locator("+ dd")
    expect(account_key).to_have_text("set (stored encrypted)")
    key_lines = account_key_lines(server, authority_id)
    shown = [page.content()]
    assert_accessible(page)

    page.get_by_test_id("check-connection").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Connection OK")
    shown.append(page.content())

    page.get_by_test_id("edit-options").click()
    page.wait_for_url(re.compile(r".*/authorities/\d+/options$"))
    expect(field(page, "options.directory_url")).to_have_value(pebble.directory_url)
    expect(field(page, "options.ca_bundle")).to_have_value(pebble.ca_bundle_pem.strip())
    expect(field(page, "options.account_key")).to_have_value("")
    expect(page.locator('[id="options.account_key-help"]')).to_contain_text(
        "leave empty to keep the current value"
    )
    shown.append(page.content())
    assert_accessible(page)
    field(page, "options.contact_email").fill("certificates@example.org")
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_url(AUTHORITY_PAGE)
    expect(page.get_by_test_id("notice")).to_have_text(
        "The options were saved: Lemur reached the CA with them."
    )
    expect(options).to_contain_text("certificates@example.org")
    expect(options).to_contain_text(pebble.directory_url)
    expect(account_key).to_have_text("set (stored encrypted)")
    shown.append(page.content())
    # The same account key kept (the secret left empty), and it still reaches the CA.
    assert account_key_lines(server, authority_id) == key_lines
    page.get_by_test_id("check-connection").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Connection OK")
    shown.append(page.content())
    for html in shown:
        assert "PRIVATE KEY" not in html
        assert not [line for line in key_lines if line in html], "the account key was shown"


def test_a_wrong_directory_url_is_reported_next_to_the_form(
    page: Page, server: RunningServer, pebble: PebblePeer
) -> None:
    admin, password = add_user(server, role=Role.ADMIN)
    log_in(page, admin, password)
    before = count_rows(server, "authorities")
    page.goto("/authorities/connect?plugin=acme")
    name = f"wrong-{uuid.uuid4().hex[:6]}"
    page.locator("#name").fill(name)
    wrong = pebble.directory_url.rsplit("/", 1)[0] + "/not-a-directory"
    fill_acme_options(page, pebble, directory_url=wrong)
    page.get_by_role("button", name="Connect and create").click()
    # The CA's answer, in the summary and next to the field it is about.
    reason = "answered HTTP 404: this is not an ACME directory URL"
    expect(page.get_by_test_id("error-summary")).to_contain_text(reason)
    expect(page.locator('[id="options.directory_url-error"]')).to_contain_text(reason)
    expect(field(page, "options.directory_url")).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/authorities/connect")
    # The values are kept (the plugin, its options), the secret fields empty.
    expect(page.locator("#name")).to_have_value(name)
    expect(page.get_by_label("Kind of CA")).to_have_value("acme")
    expect(field(page, "options.directory_url")).to_have_value(wrong)
    expect(field(page, "options.contact_email")).to_have_value("pki-team@example.org")
    expect(field(page, "options.ca_bundle")).to_have_value(pebble.ca_bundle_pem)
    expect(page.get_by_label("Agree to the terms of service")).to_be_checked()
    assert_accessible(page)
    assert count_rows(server, "authorities") == before
    page.goto("/authorities")
    expect(page.locator(f"tr[data-authority='{name}']")).to_have_count(0)


def test_a_member_requests_a_certificate_pending_then_issued(
    page: Page,
    server: RunningServer,
    forwarding: PebblePeer,
    acme_authority: dict[str, Any],
    member: tuple[str, str],
) -> None:
    log_in(page, *member)
    name = f"shop-{uuid.uuid4().hex[:8]}.{forwarding.zone}"
    request_id = request_certificate(page, acme_authority["name"], name)
    card = page.get_by_test_id("request")
    expect(card).to_have_attribute("data-state", re.compile("pending|issued"))
    expect(card).to_contain_text(name)
    expect(card).to_contain_text(acme_authority["name"])
    assert_accessible(page)

    deadline = time.monotonic() + 40
    while card.get_attribute("data-state") != "issued":
        assert time.monotonic() < deadline, page.content()
        assert card.get_attribute("data-state") == "pending", card.inner_text()
        time.sleep(1)
        page.reload()
    expect(page.get_by_test_id("issued-note")).to_contain_text("The certificate is issued")
    assert_accessible(page)

    page.goto("/requests")
    row = page.locator(f"tr[data-request='{request_id}']")
    expect(row).to_contain_text(name)
    expect(row).to_contain_text("issued")
    assert_accessible(page)

    page.goto(f"/requests/{request_id}")
    page.get_by_test_id("issued-note").get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/certificates/\d+$"))
    expect(page.locator("main")).to_contain_text(name)
    expect(page.locator("dd", has_text="Pebble")).not_to_have_count(0)


class HeldChallenges:
    """Pebble's HTTP-01 target that keeps the validation waiting (it sends a byte of the body
    every half second) until released, so the request stays pending at the CA."""

    def __init__(self) -> None:
        self.released = threading.Event()
        held = self.released

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                deadline = time.monotonic() + 14
                while not held.wait(0.5) and time.monotonic() < deadline:
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def close(self) -> None:
        self.released.set()
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def held(pebble: PebblePeer) -> Iterator[HeldChallenges]:
    holder = HeldChallenges()
    before, pebble.http01_target = pebble.http01_target, holder.url
    yield holder
    pebble.http01_target = before
    holder.close()


def test_a_pending_request_is_cancelled_and_a_read_only_user_may_not(
    page: Page,
    browser: Browser,
    server: RunningServer,
    held: HeldChallenges,
    acme_authority: dict[str, Any],
    member: tuple[str, str],
    pebble: PebblePeer,
) -> None:
    log_in(page, *member)
    name = f"slow-{uuid.uuid4().hex[:8]}.{pebble.zone}"
    request_id = request_certificate(page, acme_authority["name"], name)
    card = page.get_by_test_id("request")
    expect(card).to_have_attribute("data-state", "pending")
    expect(page.get_by_test_id("pending-note")).to_contain_text("Waiting for the CA")
    assert_accessible(page)

    reader, reader_password = add_user(server, role=Role.READ_ONLY)
    other = new_context(browser, server)
    try:
        watcher = other.new_page()
        log_in(watcher, reader, reader_password)
        watcher.goto(f"/requests/{request_id}")
        expect(watcher.get_by_test_id("request")).to_have_attribute("data-state", "pending")
        expect(watcher.get_by_test_id("cancel-request")).to_have_count(0)
        csrf = watcher.locator("meta[name=csrf-token]").get_attribute("content")
        assert csrf
        refused = watcher.request.post(
            f"/requests/{request_id}/cancel", form={"csrf_token": csrf}, max_redirects=0
        )
        assert refused.status == 403, refused.status
    finally:
        other.close()

    page.reload()
    expect(card).to_have_attribute("data-state", "pending")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_test_id("cancel-request").click()
    expect(page.get_by_test_id("notice")).to_have_text(f"Request {request_id} was cancelled.")
    assert asked == ["Stop waiting for the CA and give this request up?"]
    expect(card).to_have_attribute("data-state", "cancelled")
    expect(page.get_by_test_id("cancel-request")).to_have_count(0)
    assert_accessible(page)
    held.released.set()

    page.goto("/requests?state=cancelled")
    expect(page.locator(f"tr[data-request='{request_id}']")).to_contain_text("cancelled")
    # Nothing was issued for it.
    response = page.request.get(f"/api/v1/requests/{request_id}")
    assert response.ok, response.text()
    assert response.json()["state"] == "cancelled"
    assert response.json()["certificate_id"] is None
    assert response.json()["last_error"] is None, "the CA was not told"


def test_without_script_show_options_brings_the_acme_options(
    page: Page, browser: Browser, server: RunningServer
) -> None:
    admin, password = add_user(server, role=Role.ADMIN)
    ctx = new_context(browser, server, script=False)
    try:
        bare = ctx.new_page()
        log_in(bare, admin, password)
        bare.goto("/authorities/connect")
        expect(bare.get_by_role("button", name="Show options")).to_be_visible()
        bare.locator("#name").fill("kept-name")
        bare.get_by_label("Kind of CA").select_option("acme")
        bare.get_by_role("button", name="Show options").click()
        bare.wait_for_load_state()
        expect(bare.get_by_test_id("plugin-options")).to_have_attribute("data-plugin", "acme")
        expect(bare.locator("#name")).to_have_value("kept-name")
        expect(field(bare, "options.directory_url")).to_be_visible()
        expect(bare.locator('textarea[id="options.ca_bundle"]')).to_be_visible()
        expect(bare.get_by_test_id("error-summary")).to_have_count(0)
    finally:
        ctx.close()
    # The same page as served (axe runs in pages with script), and the empty request list.
    log_in(page, admin, password)
    page.goto("/authorities/connect?plugin=acme")
    expect(page.get_by_test_id("plugin-options")).to_have_attribute("data-plugin", "acme")
    assert_accessible(page)
    page.goto("/requests?state=failed")
    expect(page.get_by_role("heading", name="Pending requests")).to_be_visible()
    assert_accessible(page)
    # The options fragment is for those who may manage authorities only.
    member, member_password = add_user(server, role=Role.MEMBER)
    page.context.clear_cookies()
    log_in(page, member, member_password)
    assert page.request.get("/authorities/connect/options?plugin=acme").status == 403
    assert page.request.get("/authorities/connect").status == 403
