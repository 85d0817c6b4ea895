"""What every page shares: HTML errors, security headers, login and back, CSRF."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.peers.server import CSRF_FIELD, RunningServer, form_login
from tests.ui.support import add_user, assert_accessible, count_rows


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


pytestmark = pytest.mark.browser


@pytest.fixture
def member(server: RunningServer) -> Iterator[httpx.Client]:
    name, password = add_user(server, teams=["pattern"])
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, name, password).status_code == 303
        yield client


def test_an_unknown_page_is_an_html_404_and_the_api_keeps_json(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        page = client.get("/no/such/page")
        api = client.get("/api/v1/no/such/route")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "route_not_found"


def test_an_address_of_the_wrong_shape_is_a_page_not_found(member: httpx.Client) -> None:
    response = member.get("/certificates/not-a-number")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/login", "/no/such/page", "/static/lemur.css", "/api/v1/me"])
def test_every_response_carries_the_security_headers(server: RunningServer, path: str) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_pages_are_never_cached(member: httpx.Client) -> None:
    assert member.get("/").headers["cache-control"] == "no-store"


def test_a_signed_out_visitor_logs_in_and_comes_back(server: RunningServer) -> None:
    name, password = add_user(server)
    with httpx.Client(base_url=server.base_url) as client:
        first = client.get("/password?x=1", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Fpassword%3Fx%3D1"
        page = client.get(first.headers["location"])
        token = CSRF_FIELD.search(page.text)
        assert token is not None
        assert 'name="next" value="/password?x=1"' in page.text
        answer = client.post(
            "/login",
            data={
                "username": name,
                "password": password,
                "csrf_token": token.group(1),
                "next": "/password?x=1",
            },
            follow_redirects=False,
        )
    assert answer.headers["location"] == "/password?x=1"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_sends_the_browser_to_another_site(server: RunningServer, target: str) -> None:
    name, password = add_user(server)
    with httpx.Client(base_url=server.base_url) as client:
        page = client.get("/login", params={"next": target})
        token = CSRF_FIELD.search(page.text)
        assert token is not None
        answer = client.post(
            "/login",
            data={
                "username": name,
                "password": password,
                "csrf_token": token.group(1),
                "next": target,
            },
            follow_redirects=False,
        )
    assert answer.headers["location"] == "/"


def test_a_form_post_without_the_csrf_token_changes_nothing(
    server: RunningServer, member: httpx.Client
) -> None:
    sessions = count_rows(server, "web_sessions")
    response = member.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert count_rows(server, "web_sessions") == sessions
    assert member.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_the_login_page_is_accessible_and_usable_by_keyboard(page: Page) -> None:
    page.goto("/login")
    assert_accessible(page)
    # Focus starts in the username field; Tab reaches the password, then the button.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in")).to_be_focused()


def test_the_error_page_is_accessible(page: Page) -> None:
    page.goto("/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert_accessible(page)
