"""The change-password page in Chromium: a confirmation field that must match, and the
strength rule's advice shown on the page (issue 8: "aaaaaaaaaaaa" was accepted)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.peers.server import RunningServer, form_login
from tests.ui.test_browser import add_user, at_path, log_in


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


def _fill(page: Page, current: str, new: str, confirm: str) -> None:
    page.goto("/password")
    page.locator("#current_password").fill(current)
    page.locator("#new_password").fill(new)
    page.get_by_label("Confirm password").fill(confirm)
    page.get_by_role("button", name="Change password").click()


def _still_logs_in_with(server: RunningServer, name: str, password: str) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, name, password).status_code == 303


def test_the_confirmation_must_match(page: Page, server: RunningServer) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    at_path(page, "/")
    _fill(page, password, "maple orbit lantern cobalt", "maple orbit lantern cobalt!")
    at_path(page, "/password")
    expect(page.get_by_role("alert")).to_contain_text("The two new passwords differ")
    _still_logs_in_with(server, name, password)


@pytest.mark.parametrize(
    ("weak", "advice"),
    [
        ("aaaaaaaaaaaa", "repeated or sequential"),
        ("Password1234", "common password"),
        ("123456789012", "repeated or sequential"),
    ],
)
def test_a_guessable_password_is_refused_with_advice(
    page: Page, server: RunningServer, weak: str, advice: str
) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    at_path(page, "/")
    _fill(page, password, weak, weak)
    at_path(page, "/password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(advice)
    expect(alert).to_contain_text("random words")
    expect(alert).not_to_contain_text(weak)
    _still_logs_in_with(server, name, password)


def test_a_strong_matching_password_is_changed(page: Page, server: RunningServer) -> None:
    name, password = add_user(server)
    log_in(page, name, password)
    at_path(page, "/")
    _fill(page, password, "maple orbit lantern cobalt", "maple orbit lantern cobalt")
    at_path(page, "/")
    expect(page.get_by_role("status")).to_have_text("Your password was changed.")
    _still_logs_in_with(server, name, "maple orbit lantern cobalt")
