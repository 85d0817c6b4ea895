"""The browser pages of a real ``lemur serve``, driven by headless Chromium."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.services import Services
from tests.peers.server import RunningServer, form_login
from tests.ui.support import add_user, at_path, count_rows, log_in, path_of, server_container


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


pytestmark = pytest.mark.browser


def session_cookie(context: BrowserContext) -> dict[str, object] | None:
    for cookie in context.cookies():
        if cookie.get("name") == "lemur_session":
            return dict(cookie)
    return None


def test_login_page_renders(page: Page) -> None:
    response = page.goto("/login")
    assert response is not None
    assert response.status == 200
    expect(page).to_have_title("Log in · Lemur")
    expect(page.get_by_role("heading", name="Log in to Lemur")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Log in")).to_be_enabled()


def test_signed_out_visitor_is_sent_to_login(page: Page) -> None:
    page.goto("/")
    at_path(page, "/login")
    page.goto("/password")
    at_path(page, "/login")


def test_wrong_password_shows_readable_error_and_stays_on_login(
    page: Page, context: BrowserContext, server: RunningServer
) -> None:
    name, _password = add_user(server)
    sessions_before = count_rows(server, "web_sessions")

    log_in(page, name, "not-the-password-at-all")

    at_path(page, "/login")
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    # The username is kept so only the password has to be typed again.
    expect(page.get_by_label("Username")).to_have_value(name)
    expect(page.get_by_label("Password")).to_have_value("")
    assert session_cookie(context) is None
    assert count_rows(server, "web_sessions") == sessions_before


def test_first_admin_changes_one_time_password_then_sees_home(
    page: Page, context: BrowserContext, server: RunningServer, tmp_path: Path
) -> None:
    one_time = server.admin_password
    assert one_time, f"lemur serve printed no admin password:\n{server.output}"
    add_user(server, teams=["platform"])  # a team exists; admin joins it below
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            accounts = services.accounts()
            accounts.add_member(accounts.find_team("platform"), accounts.find_user("admin"))
    finally:
        container.close()

    log_in(page, "admin", one_time)

    at_path(page, "/password")
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    new_password = "correct-horse-battery-staple"
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password").fill(new_password)
    page.get_by_label("Confirm password").fill(new_password)
    page.get_by_role("button", name="Change password").click()

    at_path(page, "/")
    expect(page.get_by_role("status")).to_have_text("Your password was changed.")
    expect(page.get_by_test_id("username")).to_have_text("admin")
    expect(page.get_by_test_id("role")).to_have_text("admin")
    expect(page.get_by_test_id("teams")).to_contain_text("platform")
    expect(page.get_by_text("You are using a one-time password")).to_have_count(0)

    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The one-time password is spent; the new one works in a fresh browser.
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, "admin", one_time).status_code == 401
        answer = form_login(client, "admin", new_password)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"


def test_home_shows_user_role_and_teams(page: Page, server: RunningServer) -> None:
    name, password = add_user(server, role=Role.SECURITY, teams=["web", "payments"])

    log_in(page, name, password)

    at_path(page, "/")
    expect(page.get_by_test_id("whoami")).to_contain_text(name)
    expect(page.get_by_test_id("username")).to_have_text(name)
    expect(page.get_by_test_id("role")).to_have_text("security")
    expect(page.get_by_test_id("teams").get_by_role("listitem")).to_have_text(["payments", "web"])


def test_session_cookie_is_httponly_and_samesite_lax(
    page: Page, context: BrowserContext, server: RunningServer
) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    at_path(page, "/")
    cookie = session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    # Scripts on the page cannot read it.
    assert "lemur_session" not in page.evaluate("document.cookie")


def test_logout_returns_to_login_and_ends_the_session(
    page: Page, context: BrowserContext, server: RunningServer
) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    cookie = session_cookie(context)
    assert cookie is not None
    old_value = str(cookie["value"])
    with httpx.Client(base_url=server.base_url, cookies={"lemur_session": old_value}) as client:
        assert client.get("/", follow_redirects=False).status_code == 200

    page.get_by_role("button", name="Log out").click()

    at_path(page, "/login")
    assert session_cookie(context) is None
    with httpx.Client(base_url=server.base_url, cookies={"lemur_session": old_value}) as client:
        answer = client.get("/", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"
        api = client.get("/api/v1/me")
        assert api.status_code == 401


def test_login_post_without_csrf_token_is_refused(server: RunningServer) -> None:
    name, password = add_user(server)
    sessions_before = count_rows(server, "web_sessions")
    with httpx.Client(base_url=server.base_url) as client:
        client.get("/login")  # sets the pre-session cookie, as a browser would have it
        assert client.cookies.get("lemur_csrf")

        missing = client.post(
            "/login", data={"username": name, "password": password}, follow_redirects=False
        )
        forged = client.post(
            "/login",
            data={"username": name, "password": password, "csrf_token": "0" * 64},
            follow_redirects=False,
        )

    for answer in (missing, forged):
        assert answer.status_code == 403
        assert "lemur_session" not in answer.headers.get("set-cookie", "")
        assert "This form has expired" in answer.text
    assert count_rows(server, "web_sessions") == sessions_before


def test_csrf_token_from_another_browser_is_refused(server: RunningServer) -> None:
    name, password = add_user(server)
    sessions_before = count_rows(server, "web_sessions")
    with httpx.Client(base_url=server.base_url) as attacker:
        page = attacker.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    with httpx.Client(base_url=server.base_url) as victim:
        victim.get("/login")
        answer = victim.post(
            "/login",
            data={"username": name, "password": password, "csrf_token": token},
            follow_redirects=False,
        )
    assert answer.status_code == 403
    assert count_rows(server, "web_sessions") == sessions_before


def test_wrong_current_password_keeps_the_old_password(page: Page, server: RunningServer) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    at_path(page, "/")
    page.goto("/password")
    at_path(page, "/password")

    page.get_by_label("Current password").fill("this-is-not-it-123")
    page.get_by_label("New password").fill("a-brand-new-password")
    page.get_by_label("Confirm password").fill("a-brand-new-password")
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_role("alert")).to_be_visible()
    assert path_of(page) == "/password"
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, name, "a-brand-new-password").status_code == 401
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, name, password).status_code == 303


def test_logout_and_password_forms_need_the_csrf_token(server: RunningServer) -> None:
    name, password = add_user(server)
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, name, password).status_code == 303
        audit_before = count_rows(server, "audit_events")

        logout = client.post("/logout", data={}, follow_redirects=False)
        change = client.post(
            "/password",
            data={"current_password": password, "new_password": "stolen-password-123"},
            follow_redirects=False,
        )

        for answer in (logout, change):
            assert answer.status_code == 403
            assert "This form has expired" in answer.text
        # Still signed in, with the old password, and nothing was recorded.
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 200
        assert name in home.text
    assert count_rows(server, "audit_events") == audit_before
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, name, "stolen-password-123").status_code == 401
        assert form_login(client, name, password).status_code == 303


def test_signed_in_visitor_skips_the_login_page(page: Page, server: RunningServer) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    at_path(page, "/")
    page.goto("/login")
    at_path(page, "/")
    expect(page.get_by_test_id("username")).to_have_text(name)
